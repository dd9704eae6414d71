/* `runner-supervisor report`: summary.c reading what an operator pipes in. A termination
 * message is the supervisor's JSON, but its strings come from outside (the runner's name, the
 * job's name and result: the workflow's text), a JSON log holds every line the job printed,
 * and `kubectl get pods -o jsonpath=...` gives whatever the pods ended with: any bytes,
 * malformed JSON, huge lines.
 *
 * Input: the text, as `report` and `report --fleet` read it (the same bytes go to both). The
 * invariants: nothing crashes or leaks, and what is printed for a person holds no control
 * character but the line breaks (a name cannot drive the terminal or forge a line). */
#include <jansson.h>

#include "fuzz.h"
#include "summary.h"

static void check_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		FUZZ_CHECK(c == '\n' || (c >= 0x20 && c != 0x7f));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	json_t *s = summary_find(text);
	if (s) {
		char *para = summary_paragraph(s, 96);
		FUZZ_CHECK(para != NULL); /* a summary always reads as a paragraph */
		check_printable(para, strlen(para));
		free(para);
		json_decref(s);
	}
	free(text);

	/* fmemopen wants a buffer of at least one byte; the data stays unwritten ("r"). */
	char *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	FILE *in = fmemopen(copy, size ? size : 1, "r");
	char *out = NULL;
	size_t out_size = 0;
	FILE *o = open_memstream(&out, &out_size);
	FUZZ_CHECK(in != NULL && o != NULL);
	if (size)
		summary_fleet(in, o);
	fclose(in);
	free(copy);
	FUZZ_CHECK(fclose(o) == 0);
	check_printable(out, out_size);
	free(out);
	return 0;
}

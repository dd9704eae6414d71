#include "base64.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_b64_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

unsigned char *b64_decode(const char *in, size_t in_len, size_t *len)
{
	if (in_len > (size_t)(1 << 30))
		return NULL;
	char *padded = malloc(in_len + 4);
	unsigned char *out = malloc(in_len / 4 * 3 + 4);
	if (!padded || !out)
		goto fail;
	/* .NET's Convert.FromBase64String, which the runner decodes JIT blobs with, skips
	 * whitespace anywhere: a Secret made from a file ends in a newline. */
	size_t kept = 0;
	for (size_t i = 0; i < in_len; i++)
		if (!is_b64_space(in[i]))
			padded[kept++] = in[i];
	/* EVP_DecodeBlock wants whole quanta: restore the padding some encoders drop. */
	size_t pad = (4 - kept % 4) % 4;
	if (pad == 3)
		goto fail;
	size_t padded_len = kept + pad;
	memset(padded + kept, '=', pad);
	padded[padded_len] = '\0';
	for (size_t i = 0; i < padded_len; i++) {
		/* EVP_DecodeBlock skips whitespace at the ends only; '=' only at the end. */
		char c = padded[i];
		if (c == '=' ? i < padded_len - 2 || (i == padded_len - 2 && padded[i + 1] != '=')
			     : !(c == '+' || c == '/' || (c >= '0' && c <= '9') ||
				 (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			goto fail;
	}
	int n = EVP_DecodeBlock(out, (const unsigned char *)padded, (int)padded_len);
	if (n < 0)
		goto fail;
	size_t eq = (padded_len >= 1 && padded[padded_len - 1] == '=') +
		    (padded_len >= 2 && padded[padded_len - 2] == '=');
	*len = (size_t)n - eq;
	out[*len] = '\0';
	explicit_bzero(padded, in_len + 4); /* a JIT blob holds the runner's private key */
	free(padded);
	return out;
fail:
	if (padded)
		explicit_bzero(padded, in_len + 4);
	free(padded);
	free(out);
	return NULL;
}

char *b64url_encode(const unsigned char *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

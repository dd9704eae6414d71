#include "base64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

unsigned char *b64_decode(const char *in, size_t in_len, size_t *len)
{
	/* EVP_DecodeBlock wants whole quanta: restore the padding some encoders drop. */
	size_t pad = (4 - in_len % 4) % 4;
	if (pad == 3 || in_len > (size_t)(1 << 30))
		return NULL;
	size_t padded_len = in_len + pad;
	char *padded = malloc(padded_len + 1);
	unsigned char *out = malloc(padded_len / 4 * 3 + 1);
	if (!padded || !out)
		goto fail;
	memcpy(padded, in, in_len);
	memset(padded + in_len, '=', pad);
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
	free(padded);
	return out;
fail:
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

/* Base64 (RFC 4648) through OpenSSL's EVP coders. */
#ifndef RS_BASE64_H
#define RS_BASE64_H

#include <stddef.h>

/* Decodes standard base64 (padding optional, no whitespace inside). Returns a malloc'd
 * buffer, NUL-terminated for convenience, and its length in *len; NULL when malformed. */
unsigned char *b64_decode(const char *in, size_t in_len, size_t *len);

/* base64url without padding (JWT): malloc'd, NULL when out of memory. */
char *b64url_encode(const unsigned char *in, size_t len);

#endif

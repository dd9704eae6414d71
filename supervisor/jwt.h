/* GitHub App authentication: the RS256 JSON Web Token (reference §5). */
#ifndef RS_JWT_H
#define RS_JWT_H

#include <openssl/evp.h>
#include <time.h>

#include "err.h"

/* GitHub: iat 60 s in the past against clock drift; exp at most 10 minutes ahead. We stay
 * a minute short of the limit, so that a server clock behind ours does not reject it. */
#define JWT_IAT_BACKDATE_S 60
#define JWT_LIFETIME_S     540

/* Loads an RSA private key, PEM-encoded as PKCS#1 (an "RSA PRIVATE KEY" block) or PKCS#8
 * (a "PRIVATE KEY" block). Errors (78) name the setting and the file, never the content. */
EVP_PKEY *jwt_load_key(const char *path, struct rs_err *err);

/* Signs {"iat":now-60,"exp":now+540,"iss":app} with RS256; iss is a JSON number when app is
 * all digits (an app id), else a string (a client id). Returns a malloc'd token. */
char *jwt_sign_rs256(EVP_PKEY *key, const char *app, time_t now, struct rs_err *err);

#endif

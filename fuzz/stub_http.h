/* A stand-in for http.c's transport in the github harness (fuzz/stub_http.c): each request
 * gets the next response of a script taken from the fuzz input, parsed by http.c's own header
 * and body callbacks; waits return at once. */
#ifndef RS_FUZZ_STUB_HTTP_H
#define RS_FUZZ_STUB_HTTP_H

/* The responses, separated by STUB_HTTP_SEP; each is a status line ("HTTP/2 201"; anything
 * else is a transport error with that text), header lines, an empty line and the body. The
 * text is cut up in place and must outlive the requests. When it runs out, a request ends as
 * canceled, as if SIGTERM had come: every retry loop ends. */
#define STUB_HTTP_SEP "\n~~~\n"
void stub_http_script(char *responses);

#endif

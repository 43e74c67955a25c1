/* tap.h - a tiny TAP producer for the C unit tests. */
#ifndef RLS_TAP_H
#define RLS_TAP_H

#include <stdbool.h>

void tap_plan(int n);
/* Record one case; `desc` reads as a sentence. Returns `ok`. */
bool tap_ok(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tap_is_int(long long got, long long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool tap_is_str(const char *got, const char *want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip(const char *why);
/* A setup step that must work for the cases after it to mean anything:
 * when `call` returns a negative value the test bails out, naming it.
 * `call` is evaluated once; the macro yields its value. */
#define TAP_MUST(call) ({ __typeof__(call) tap_r_ = (call); tap_must(tap_r_ >= 0, #call, __FILE__, __LINE__); tap_r_; })
void tap_must(bool ok, const char *what, const char *file, int line);
/* Print the trailing plan when none was given, and return the exit status. */
int tap_done(void);

#endif

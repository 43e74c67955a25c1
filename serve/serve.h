/* serve.h - the whole public face of the serve module: `rls serve`, the
 * local HTTP/JSON service over sandboxes (see rls-serve(1) and
 * serve/openapi.yaml).  It is built on the launcher (every command runs
 * through `rls run`, the one sandbox contract), the policy and the delta;
 * nothing else depends on it. */
#ifndef RLS_SERVE_H
#define RLS_SERVE_H

/* `rls serve [OPTIONS]`: argv[0] is "serve".  Returns the exit status. */
int serve_main(int argc, char **argv);

#endif

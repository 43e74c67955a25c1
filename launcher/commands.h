/* commands.h - the launcher's subcommands (internal to launcher/). */
#ifndef RLS_LAUNCHER_COMMANDS_H
#define RLS_LAUNCHER_COMMANDS_H

/* Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_discard(int argc, char **argv);
int cmd_deltas(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif

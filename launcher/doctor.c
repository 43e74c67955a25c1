/* doctor.c - `rls doctor` (being written). */
#include "launcher.h"
#include "commands.h"

int cmd_doctor(int argc, char **argv)
{
	fputs("rls: doctor: not available in this build\n", stderr);
	return 2;
}

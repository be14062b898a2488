/* Test-only LD_PRELOAD library (test_journal_sync.py): fdatasync() waits
 * while the file named by $CRDTD_SYNC_GATE exists, at most 30 s, after
 * creating "$CRDTD_SYNC_GATE.entered"; so a test holds the journal's writer
 * thread inside a sync for as long as it needs, with no timing involved. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	const char *gate = getenv("CRDTD_SYNC_GATE");

	if (gate && access(gate, F_OK) == 0) {
		char marker[4096];
		snprintf(marker, sizeof(marker), "%s.entered", gate);
		int m = open(marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (m >= 0)
			close(m);
		for (int i = 0; i < 30000 && access(gate, F_OK) == 0; i++)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	return real ? real(fd) : -1;
}

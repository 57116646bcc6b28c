/* SPDX-License-Identifier: MIT */
/*
 * Counts the SIGINTs it receives: prints "ready", waits for the first one,
 * waits 500 ms more for a duplicate, then prints "sigint: N" and exits 0
 * (1 if none came within 10 s).  With "read" as argument it first reads a
 * line from standard input (a program that reads the terminal) and echoes
 * it as "read: LINE".
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void on_int(int sig)
{
	(void)sig;
	count++;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_int;
	sigaction(SIGINT, &sa, NULL);
	if (argc > 1 && strcmp(argv[1], "read") == 0) {
		char line[128];

		printf("prompt\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 2;
		line[strcspn(line, "\n")] = 0;
		printf("read: %s\n", line);
	}
	printf("ready\n");
	fflush(stdout);
	for (i = 0; i < 1000 && !count; i++)
		sleep_ms(10);
	if (count)
		sleep_ms(500);
	printf("sigint: %d\n", (int)count);
	fflush(stdout);
	return count ? 0 : 1;
}

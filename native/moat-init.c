/* moat-init: PID 1 of every Moat sandbox.
 *
 * Why it exists: a sandbox must stay alive with no workload (so `exec` can run code in it and a warm pool can hold
 * it ready), must reap orphans that exec'd processes leave behind (or zombies pile up against the pids limit), and
 * must forward termination so `stop` is clean. Images do not always ship an init, so the host bind-mounts this
 * static binary read-only into every sandbox.
 *
 * Usage: moat-init [--] [COMMAND ARGS...]
 *   With no command it idles until SIGTERM/SIGINT. With a command it runs it as a child, forwards signals to it,
 *   and exits with its status when it ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);

    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0) first = 2;

    pid_t child = -1;
    if (first < argc) {
        child = fork();
        if (child < 0) { perror("moat-init: fork"); return 127; }
        if (child == 0) {
            sigprocmask(SIG_UNBLOCK, &all, NULL);
            setsid();
            execvp(argv[first], &argv[first]);
            fprintf(stderr, "moat-init: cannot run %s: %s\n", argv[first], strerror(errno));
            _exit(127);
        }
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&all, &sig) != 0) continue;
        if (sig == SIGCHLD) {
            int status;
            pid_t p;
            while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
                if (p == child) {
                    if (WIFEXITED(status)) return WEXITSTATUS(status);
                    return 128 + WTERMSIG(status);
                }
            }
        } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
            if (child > 0) kill(-child, sig);
            else return 0;
        } else if (child > 0) {
            kill(-child, sig);
        }
    }
}

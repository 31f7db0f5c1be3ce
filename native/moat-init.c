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
 *
 * Usage: moat-init --exec [--] COMMAND [ARGS...]
 *   What `moat sandbox exec` runs (not PID 1): runs the command with its stdout and stderr on pipes of its own,
 *   copies them to its own stdout and stderr, and exits with the command's status as soon as the command exits,
 *   after copying what the command wrote. A background process the command left behind keeps only those inner
 *   pipes, so the runtime (runc copies the output until end of file; runsc hands the agent's pipes to the sandbox)
 *   sees end of file when this exits instead of when the last background process does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* Output a finished command's background processes may still be writing is not waited for past this much. */
#define DRAIN_LIMIT (1 << 20)

static void write_all(int fd, const char *buf, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* the reader went away: nothing more to tell it */
        }
        buf += w;
        n -= w;
    }
}

/* Copies what is readable from fd to out; returns 0 at end of file, -1 when nothing is readable now, else bytes. */
static ssize_t pump(int fd, int out) {
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) write_all(out, buf, n);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
    return n < 0 ? 0 : n;
}

static int exec_mode(char **command, sigset_t *all) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) { perror("moat-init: pipe"); return 126; }
    int sfd = signalfd(-1, all, SFD_CLOEXEC);
    if (sfd < 0) { perror("moat-init: signalfd"); return 126; }

    pid_t child = fork();
    if (child < 0) { perror("moat-init: fork"); return 126; }
    if (child == 0) {
        sigprocmask(SIG_UNBLOCK, all, NULL);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        execvp(command[0], command);
        fprintf(stderr, "moat-init: cannot run %s: %s\n", command[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);

    struct pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {sfd, POLLIN, 0}};
    int status = 0;
    for (;;) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            perror("moat-init: poll");
            return 126;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && pump(fds[i].fd, i + 1) == 0) fds[i].fd = -1;
        }
        if (fds[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) != sizeof si) continue;
            if (si.ssi_signo != SIGCHLD) {
                kill(child, (int)si.ssi_signo);
            } else if (waitpid(child, &status, WNOHANG) == child) {
                break;
            }
        }
    }

    /* The command has exited: everything it wrote is in the pipes now. Copy it without waiting for an end of file
     * that a background process holding the pipes may never give. */
    long drained = 0;
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd < 0) continue;
        fcntl(fds[i].fd, F_SETFL, fcntl(fds[i].fd, F_GETFL) | O_NONBLOCK);
        ssize_t n;
        while (drained < DRAIN_LIMIT && (n = pump(fds[i].fd, i + 1)) > 0) drained += n;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);

    if (argc > 1 && strcmp(argv[1], "--exec") == 0) {
        int at = (argc > 2 && strcmp(argv[2], "--") == 0) ? 3 : 2;
        if (at >= argc) { fprintf(stderr, "moat-init: --exec needs a command\n"); return 126; }
        return exec_mode(&argv[at], &all);
    }

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

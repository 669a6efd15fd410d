/*
 * user_cmd.c - `sessiond user add|list|del|passwd|roles|disable`: the accounts the login page
 * checks. `passwd`, `roles`, `disable` and `del` revoke every session of the user (contract
 * section 1); `roles --keep-sessions` instead gives the user's live sessions the new roles and
 * a new token on their next request (a rotation, contract section 3).
 *
 * The password is read here, in the command's own process, before the body runs: from stdin
 * with --password-stdin, otherwise from the terminal without echo (asked twice). The body gets
 * it as an internal word (PASSWORD_WORD) that never comes from the command line, so it reaches
 * a running server's admin socket (memory store) without ever being in a process's argv, a log
 * line or a message. The body then hashes it with argon2id at the configured cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "sessiond/error.h"
#include "sessiond/users.h"

/* Starts with ESC so nobody types it by accident; the front refuses it from argv anyway. */
#define PASSWORD_WORD "\x1bpassword="
#define PASSWORD_WORD_LEN (sizeof(PASSWORD_WORD) - 1)

static const char usage[] =
    "sessiond: usage: sessiond user add NAME [--roles a,b] [--password-stdin] | list | del NAME |"
    " passwd NAME [--password-stdin] | roles NAME a,b [--keep-sessions] | disable NAME\n";

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_account(const sess_account *a, void *arg)
{
    char created[32], changed[32];
    iso_time(a->created, created);
    iso_time(a->password_changed, changed);
    fprintf((FILE *)arg, "%s\t%s\t%s\t%s\t%s\n", a->user, a->roles[0] ? a->roles : "-",
            (a->flags & SESS_ACCOUNT_DISABLED) ? "disabled" : "enabled", created, changed);
    return 0;
}

/* The words after the verb: NAME, then flags. */
typedef struct user_args {
    const char *verb;
    const char *name;
    const char *roles;    /* add --roles, or the roles of `roles NAME a,b` */
    const char *password; /* from PASSWORD_WORD; NULL when not given */
    size_t password_len;
    bool password_stdin;
    bool keep_sessions; /* roles --keep-sessions: rotate the sessions instead of ending them */
} user_args;

static bool verb_is(const char *v, const char *a, const char *b)
{
    return strcmp(v, a) == 0 || (b != NULL && strcmp(v, b) == 0);
}

/* Parses argv ({"user", VERB, ...}); false on bad usage. */
static bool parse(int argc, char **argv, user_args *u)
{
    memset(u, 0, sizeof(*u));
    u->verb = argc > 1 ? argv[1] : "";
    int positional = 0;
    for (int i = 2; i < argc; i++) {
        bool missing = false;
        const char *v = cli_flag_value(argc, argv, &i, "--roles", &missing);
        if (missing)
            return false;
        if (v != NULL && strcmp(u->verb, "add") == 0) {
            u->roles = v;
        } else if (strcmp(argv[i], "--password-stdin") == 0) {
            u->password_stdin = true;
        } else if (strcmp(argv[i], "--keep-sessions") == 0 && strcmp(u->verb, "roles") == 0) {
            u->keep_sessions = true;
        } else if (strncmp(argv[i], PASSWORD_WORD, PASSWORD_WORD_LEN) == 0) {
            u->password = argv[i] + PASSWORD_WORD_LEN;
            u->password_len = strlen(u->password);
        } else if (v == NULL && argv[i][0] != '-' && positional == 0) {
            u->name = argv[i];
            positional++;
        } else if (v == NULL && strcmp(u->verb, "roles") == 0 && positional == 1) {
            u->roles = argv[i]; /* may be "" to remove every role */
            positional++;
        } else {
            return false;
        }
    }
    if (strcmp(u->verb, "list") == 0)
        return positional == 0 && !u->password_stdin;
    if (verb_is(u->verb, "add", "passwd"))
        return positional == 1;
    if (strcmp(u->verb, "roles") == 0)
        return positional == 2 && !u->password_stdin;
    return verb_is(u->verb, "del", "disable") && positional == 1 && !u->password_stdin;
}

/* Accounts hashed at different costs take different times to refuse a wrong password, which
 * tells an attacker which names exist: say so when this command's cost is not theirs. */
static void warn_mixed_cost(sess_ctx *ctx, FILE *err)
{
    size_t n = 0;
    if (sess_users_other_cost(ctx, &n) == 0 && n > 0)
        fprintf(err,
                "sessiond: warning: %zu account(s) are hashed at another argon2 cost than this "
                "command's ([login] argon2_ops, argon2_mem); pass the server's configuration "
                "with -c so that every account has the cost the server checks unknown users at\n",
                n);
}

static int with_password(sess_ctx *ctx, const user_args *u, FILE *out, FILE *err)
{
    int64_t now = sessd_now();
    int e;
    if (strcmp(u->verb, "add") == 0) {
        e = sess_user_add(ctx, u->name, u->password, u->password_len, u->roles, now);
        if (e == 0)
            fprintf(out, "added user %s\n", u->name);
        if (e == 0)
            warn_mixed_cost(ctx, err);
    } else {
        e = sess_user_passwd(ctx, u->name, u->password, u->password_len, now);
        if (e == 0)
            fprintf(out, "changed the password of %s and ended their sessions\n", u->name);
    }
    return e;
}

static int run_verb(sess_ctx *ctx, const user_args *u, FILE *out, FILE *err)
{
    int e;
    if (strcmp(u->verb, "list") == 0)
        return sess_user_list(ctx, print_account, out);
    if (verb_is(u->verb, "add", "passwd"))
        return with_password(ctx, u, out, err);
    if (strcmp(u->verb, "roles") == 0) {
        e = u->keep_sessions ? sess_user_set_roles(ctx, u->name, u->roles)
                             : sess_user_set_roles_and_revoke(ctx, u->name, u->roles);
        if (e == 0 && u->keep_sessions)
            fprintf(out,
                    "roles of %s are now '%s'; their sessions get them on their next request\n",
                    u->name, u->roles);
        else if (e == 0)
            fprintf(out, "roles of %s are now '%s'; ended their sessions\n", u->name, u->roles);
    } else if (strcmp(u->verb, "disable") == 0) {
        e = sess_user_set_disabled(ctx, u->name, true);
        if (e == 0)
            fprintf(out, "disabled %s and ended their sessions\n", u->name);
    } else {
        e = sess_user_delete(ctx, u->name);
        if (e == 0)
            fprintf(out, "deleted %s and ended their sessions\n", u->name);
    }
    return e;
}

/* One line that says what is wrong and what to do. Never quotes the password. */
static void explain(int e, const user_args *u, FILE *err)
{
    if (e == SESS_EEXIST)
        fprintf(err, "sessiond: user '%s' exists; use 'sessiond user passwd' to change it\n",
                u->name);
    else if (e == SESS_ENOTFOUND)
        fprintf(err, "sessiond: no user named '%s' (see 'sessiond user list')\n", u->name);
    else if (e == SESS_EINVAL && u->password != NULL && sess_check_password(u->password_len) != 0)
        fprintf(err, "sessiond: the password must be %d to %d bytes long\n", SESS_PASSWORD_MIN,
                SESS_PASSWORD_MAX);
    else if (e == SESS_EINVAL && sess_check_user(u->name) != 0)
        fprintf(err,
                "sessiond: bad user name: use 1 to %d bytes without control characters, ',', "
                "'\"' or '\\'\n",
                SESS_USER_MAX);
    else if (e == SESS_EINVAL)
        fprintf(err,
                "sessiond: bad role list: use at most %d comma-separated names of "
                "[A-Za-z0-9_.:-]{1,%d}\n",
                SESS_ROLES_COUNT, SESS_ROLE_MAX);
    else
        fprintf(err, "sessiond: %s\n", sess_strerror(e));
}

int cli_user_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err)
{
    user_args u;
    if (!parse(argc, argv, &u)) {
        fputs(usage, err);
        return EXIT_USAGE;
    }
    if (ctx == NULL)
        return EXIT_OK;
    if (verb_is(u.verb, "add", "passwd") && u.password == NULL) {
        fprintf(err, "sessiond: no password was read\n");
        return EXIT_USAGE;
    }
    int e = run_verb(ctx, &u, out, err);
    if (e != 0)
        explain(e, &u, err);
    return e == 0 ? EXIT_OK : (e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME);
}

/* ---- reading the password in the command's own process ---------------------------------- */

/* Reads at most `cap` - 1 bytes up to a newline (dropped, with a \r before it) or EOF. -1 when
 * the input is longer than that, so an over-long password is refused, not cut. */
static ssize_t read_line(int fd, char *buf, size_t cap, bool stop_at_newline)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (stop_at_newline && c == '\n'))
            break;
        if (n + 1 >= cap)
            return -1;
        buf[n++] = c;
    }
    if (!stop_at_newline && n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (ssize_t)n;
}

/* Prompts on the terminal without echo. */
static ssize_t prompt(int tty, const char *text, char *buf, size_t cap)
{
    struct termios old, quiet;
    if (tcgetattr(tty, &old) != 0)
        return -2;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    if (write(tty, text, strlen(text)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
        return -2;
    ssize_t n = read_line(tty, buf, cap, true);
    tcsetattr(tty, TCSAFLUSH, &old);
    return n;
}

/* Asks twice on /dev/tty; fills `buf`. EXIT_* status. */
static int ask_password(const char *name, char *buf, size_t cap)
{
    char again[SESS_PASSWORD_MAX + 2], text[SESS_USER_MAX + 32];
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0) {
        cli_error("no terminal to ask for the password on; pipe it in with --password-stdin");
        return EXIT_USAGE;
    }
    snprintf(text, sizeof(text), "Password for %s: ", name);
    ssize_t n = prompt(tty, text, buf, cap);
    ssize_t m = n >= 0 ? prompt(tty, "Repeat it: ", again, sizeof(again)) : n;
    close(tty);
    int r = EXIT_OK;
    if (n == -2 || m == -2) {
        cli_error("cannot switch off echo on the terminal; use --password-stdin");
        r = EXIT_RUNTIME;
    } else if (n < 0 || m < 0) {
        cli_error("the password is longer than %d bytes", SESS_PASSWORD_MAX);
        r = EXIT_USAGE;
    } else if (n != m || !sess_ct_equal(buf, again, (size_t)n)) {
        cli_error("the two passwords differ; nothing changed");
        r = EXIT_USAGE;
    }
    sess_wipe(again, sizeof(again));
    return r;
}

int cli_user_password_word(int argc, char **argv, char **word)
{
    user_args u;
    char pw[SESS_PASSWORD_MAX + 2];
    *word = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], PASSWORD_WORD, PASSWORD_WORD_LEN) == 0) {
            cli_error("unknown argument; see 'sessiond help user'");
            return EXIT_USAGE;
        }
    }
    if (!parse(argc, argv, &u) || !verb_is(u.verb, "add", "passwd"))
        return EXIT_OK;
    int r = EXIT_OK;
    ssize_t n = -1;
    if (u.password_stdin) {
        if ((n = read_line(STDIN_FILENO, pw, sizeof(pw), false)) < 0) {
            cli_error("the password on stdin is longer than %d bytes", SESS_PASSWORD_MAX);
            r = EXIT_USAGE;
        }
    } else {
        /* pw holds a string only when the prompt succeeded (no terminal: nothing was read). */
        pw[0] = '\0';
        if ((r = ask_password(u.name, pw, sizeof(pw))) == EXIT_OK)
            n = (ssize_t)strlen(pw);
    }
    if (r == EXIT_OK && (size_t)n != strlen(pw)) {
        cli_error("the password contains a NUL byte; use another one");
        r = EXIT_USAGE;
    }
    if (r == EXIT_OK) {
        size_t n = strlen(pw);
        *word = malloc(PASSWORD_WORD_LEN + n + 1);
        if (*word == NULL)
            r = EXIT_RUNTIME;
        else
            snprintf(*word, PASSWORD_WORD_LEN + n + 1, "%s%s", PASSWORD_WORD, pw);
    }
    sess_wipe(pw, sizeof(pw));
    return r;
}

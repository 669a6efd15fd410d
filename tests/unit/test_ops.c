/* test_ops.c - the audit log's chain (append, verify, tampering, rotation, concurrent writers)
 * and the filters of mass revocation (times, CIDR blocks, agents). */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/revoke.h"
#include "core/store_timed.h"
#include "sessiond/record.h"

static char dir[] = "/tmp/sessiond-test-ops-XXXXXX";

static int setup(void **state)
{
    (void)state;
    assert_true(sess_crypto_init() == 0);
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Runs verify on `n` files; returns its status and what it wrote to stderr in `why`. */
static int verify(const char *const *files, int n, char *why, size_t cap)
{
    FILE *out = fopen("/dev/null", "w"), *err = fmemopen(why, cap, "w");
    memset(why, 0, cap);
    int r = sessd_audit_verify(files, n, out, err);
    fclose(out);
    fclose(err);
    return r;
}

/* The start of file `path` (at most cap - 1 bytes) into `text`, NUL-terminated. */
static void read_text(const char *path, char *text, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, cap - 1, f);
    text[n] = '\0';
    fclose(f);
}

static void write_events(const char *path, int n)
{
    char err[256];
    uint8_t id[SESS_ID_BYTES];
    memset(id, 0xab, sizeof(id));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), 0);
    for (int i = 0; i < n; i++)
        sessd_audit(i % 2 ? SESSD_AUDIT_LOGIN : SESSD_AUDIT_LOGOUT, "alice \"quoted\"\n", id,
                    "192.0.2.1", i == 0 ? NULL : "detail");
    sessd_audit_close(false);
}

/* Rewrites `path` with line `k` (1-based) changed by `edit`, or removed when edit is NULL. */
static void rewrite(const char *path, int k, const char *edit)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    f = fopen(path, "w");
    int line = 1;
    for (char *p = buf, *e; p < buf + n; p = e + 1, line++) {
        e = strchr(p, '\n');
        if (line != k)
            fwrite(p, 1, (size_t)(e - p + 1), f);
        else if (edit != NULL)
            fprintf(f, "%.*s%s\n", (int)(e - p - 1), p, edit);
    }
    fclose(f);
    free(buf);
}

static void chain_intact_and_escaped(void **state)
{
    (void)state;
    char path[512], why[512];
    path_of("a.log", path, sizeof(path));
    write_events(path, 6);
    const char *files[] = {path};
    assert_int_equal(verify(files, 1, why, sizeof(why)), 0);
    FILE *f = fopen(path, "r");
    char line[4096];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    /* One line per event even with a quote and a newline in the user name. */
    assert_non_null(strstr(line, "\"user\":\"alice \\\"quoted\\\"\\u000a\""));
    assert_non_null(strstr(line, "\"session_id\":\"abababababababababababababababab\""));
    assert_non_null(strstr(line, "\"detail\":null"));
    assert_non_null(strstr(line, "\"prev\":\"0000000000000000000000000000000000000000000000000000"
                                 "000000000000\"}"));
}

/* Writes `n` events to a fresh file `name`, changes line `k` (rewrite), and checks that verify
 * fails with `expect` in its message. */
static void tamper(const char *name, int n, int k, const char *edit, const char *expect)
{
    char path[512], why[512];
    path_of(name, path, sizeof(path));
    write_events(path, n);
    rewrite(path, k, edit);
    const char *files[] = {path};
    assert_int_equal(verify(files, 1, why, sizeof(why)), 1);
    if (strstr(why, expect) == NULL)
        fail_msg("verify said \"%s\", expected \"%s\"", why, expect);
}

static void malformed_utf8_still_verifies(void **state)
{
    (void)state;
    char path[512], why[512], err[256];
    path_of("u.log", path, sizeof(path));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), 0);
    sessd_audit(SESSD_AUDIT_LOGIN_FAILED, "bad\xff\xfe name \xc3", NULL, "198.51.100.2",
                "\xe2\x82");
    sessd_audit(SESSD_AUDIT_LOGIN_FAILED, "caf\xc3\xa9 \xed\xa0\x80 \xf0\x9f\x98\x80", NULL, NULL,
                NULL);
    sessd_audit_close(false);
    const char *files[] = {path};
    assert_int_equal(verify(files, 1, why, sizeof(why)), 0);
    char text[4096];
    read_text(path, text, sizeof(text));
    assert_non_null(strstr(text, "\"user\":\"bad?? name ?\""));
    assert_non_null(strstr(text, "\"detail\":\"??\""));
    assert_non_null(strstr(text, "\"user\":\"caf\xc3\xa9 ??? \xf0\x9f\x98\x80\""));
}

/* A detail whose escapes would overflow its field is cut before the escapes, never inside
 * one: the line stays JSON and the chain verifies. C1 controls are written as '?'. */
static void escaped_detail_is_cut_whole(void **state)
{
    (void)state;
    char path[512], why[512], err[256], detail[1025];
    path_of("e.log", path, sizeof(path));
    memset(detail, '\x01', sizeof(detail) - 1); /* each one six bytes escaped */
    detail[sizeof(detail) - 1] = '\0';
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), 0);
    sessd_audit(SESSD_AUDIT_ADMIN, "c1 \xc2\x85 x", NULL, NULL, detail);
    sessd_audit_close(false);
    const char *files[] = {path};
    assert_int_equal(verify(files, 1, why, sizeof(why)), 0);
    char text[8192];
    read_text(path, text, sizeof(text));
    assert_non_null(strstr(text, "\"user\":\"c1 ?? x\""));
    const char *d = strstr(text, "\"detail\":\"\\u0001");
    assert_non_null(d);
    const char *end = strstr(d + 10, "\",\"prev\"");
    assert_non_null(end);
    /* Only whole escapes between the quotes. */
    assert_int_equal((size_t)(end - (d + 10)) % 6, 0);
}

static void edits_and_deletions_are_named(void **state)
{
    (void)state;
    /* An edit that keeps the line JSON changes its hash. */
    tamper("b.log", 6, 3, " }", "b.log:3: the audit chain is broken: line 3 was changed");
    tamper("c.log", 6, 4, NULL, "c.log:4: the audit chain is broken: its seq is 5, expected 4");
    /* Deleting the first line: the new first line does not start a chain. */
    tamper("d.log", 2, 1, NULL, "d.log:1: ");
}

static void rotation_continues_the_chain(void **state)
{
    (void)state;
    char path[512], old[512], why[512], err[256];
    path_of("r.log", path, sizeof(path));
    path_of("r.log.1", old, sizeof(old));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), 0);
    sessd_audit(SESSD_AUDIT_ADMIN, NULL, NULL, "cli", "one");
    sessd_audit(SESSD_AUDIT_ADMIN, NULL, NULL, "cli", "two");
    /* Not moved: reopen keeps the file. */
    assert_int_equal(sessd_audit_reopen(), 0);
    assert_int_equal(rename(path, old), 0);
    assert_int_equal(sessd_audit_reopen(), 0);
    sessd_audit(SESSD_AUDIT_ADMIN, NULL, NULL, "cli", "three");
    sessd_audit_close(false);
    const char *both[] = {old, path}, *reversed[] = {path, old}, *alone[] = {path};
    assert_int_equal(verify(both, 2, why, sizeof(why)), 0);
    assert_int_equal(verify(alone, 1, why, sizeof(why)), 0);
    assert_int_equal(verify(reversed, 2, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "r.log.1:1: "));
}

/* The first `n` bytes of `text` into file `path`. */
static void write_prefix(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

/* A crash in the middle of an append leaves a torn last line. Opening the log cuts it back to
 * the last whole line and writes an audit_gap line saying how much went, so the chain verifies
 * (with a note) and the next line continues it. Cut at every byte of the last two lines. */
static void torn_tail_is_cut_at_open(void **state)
{
    (void)state;
    char path[512], copy[512], why[512], err[256], out[2048];
    static char whole[16384], text[16384];
    path_of("torn.log", path, sizeof(path));
    path_of("torn-copy.log", copy, sizeof(copy));
    write_events(path, 6);
    read_text(path, whole, sizeof(whole));
    size_t len = strlen(whole), from = len - 1;
    for (int nl = 0; from > 0; from--)
        if (whole[from - 1] == '\n' && ++nl == 3)
            break;
    const char *files[] = {copy};
    /* Each cut logs a warning: 500 of them say nothing here. */
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    for (size_t k = from; k <= len; k++) {
        write_prefix(copy, whole, k);
        fflush(stderr);
        dup2(null, 2);
        int opened = sessd_audit_open(copy, err, sizeof(err));
        sessd_audit(SESSD_AUDIT_ADMIN, NULL, NULL, "cli", "after the cut");
        sessd_audit_close(false);
        dup2(saved, 2);
        if (opened != 0)
            fail_msg("cut at %zu: open failed: %s", k, err);
        FILE *o = fmemopen(out, sizeof(out), "w"), *e = fmemopen(why, sizeof(why), "w");
        memset(out, 0, sizeof(out));
        memset(why, 0, sizeof(why));
        int r = sessd_audit_verify(files, 1, o, e);
        fclose(o);
        fclose(e);
        if (r != 0)
            fail_msg("cut at %zu: verify failed: %s", k, why);
        size_t keep = k;
        while (keep > 0 && whole[keep - 1] != '\n')
            keep--;
        read_text(copy, text, sizeof(text));
        assert_int_equal(memcmp(text, whole, keep), 0); /* whole lines are kept as they were */
        size_t lines = 0;
        for (size_t i = 0; i < keep; i++)
            lines += whole[i] == '\n';
        char gap[160];
        snprintf(gap, sizeof(gap), "{\"seq\":%zu,\"time\":", lines + 1);
        assert_int_equal(strncmp(text + keep, gap, strlen(gap)), 0);
        snprintf(gap, sizeof(gap), "note: audit_gap: torn tail of %zu bytes cut at start",
                 k - keep);
        const char *next = strchr(text + keep, '\n');
        assert_non_null(next);
        bool is_gap = memmem(text + keep, (size_t)(next - (text + keep)), "\"event\":\"audit_gap\"",
                             19) != NULL;
        if (k == keep) {
            assert_false(is_gap);
            assert_null(strstr(out, "note:"));
        } else if (!is_gap || strstr(out, gap) == NULL) {
            fail_msg("cut at %zu: verify said \"%s\", expected \"%s\"", k, out, gap);
        }
    }
    close(saved);
    close(null);
}

/* What is not a torn write is not cut: a last line that is not an audit line is (it can only be
 * torn), more than a line's worth of bytes without a newline is not, and then the log does not
 * open. An edit in the middle of a log with a gap line still breaks the chain. */
static void only_a_torn_tail_is_cut(void **state)
{
    (void)state;
    char path[512], err[256], why[512];
    static char whole[16384];
    path_of("garbage.log", path, sizeof(path));
    write_events(path, 3);
    FILE *f = fopen(path, "a");
    fputs("{\"seq\":4,\"ti\n", f); /* a whole line, newline included: no torn write */
    fclose(f);
    read_text(path, whole, sizeof(whole));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not end in an audit line"));
    static char kept[16384];
    read_text(path, kept, sizeof(kept));
    assert_string_equal(kept, whole);
    const char *files[] = {path};

    path_of("long.log", path, sizeof(path));
    write_events(path, 2);
    f = fopen(path, "a");
    for (int i = 0; i < SESSD_AUDIT_LINE_MAX + 10; i++)
        fputc('x', f);
    fclose(f);
    read_text(path, whole, sizeof(whole));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not end in an audit line"));
    static char after[16384];
    read_text(path, after, sizeof(after));
    assert_string_equal(after, whole);

    path_of("gap-edit.log", path, sizeof(path));
    write_events(path, 4);
    f = fopen(path, "a");
    fputs("{\"seq\":5,", f);
    fclose(f);
    write_events(path, 2);
    files[0] = path;
    assert_int_equal(verify(files, 1, why, sizeof(why)), 0);
    rewrite(path, 3, " }");
    assert_int_equal(verify(files, 1, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "gap-edit.log:3: the audit chain is broken: line 3 was changed"));
}

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        sessd_audit(SESSD_AUDIT_REVOKE, "u", NULL, NULL, "thread");
    return NULL;
}

static void concurrent_writers_keep_the_chain(void **state)
{
    (void)state;
    char path[512], why[512], err[256];
    path_of("t.log", path, sizeof(path));
    assert_int_equal(sessd_audit_open(path, err, sizeof(err)), 0);
    /* A second process appends to the same file at the same time (flock); forked before the
     * threads start, so that it inherits no lock held by one of them. */
    pid_t pid = fork();
    if (pid == 0) {
        char e[256];
        if (sessd_audit_open(path, e, sizeof(e)) != 0)
            _exit(1);
        for (int i = 0; i < 200; i++)
            sessd_audit(SESSD_AUDIT_ADMIN, NULL, NULL, "child", "process");
        sessd_audit_close(false);
        _exit(0);
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
    sessd_audit_close(false);
    const char *files[] = {path};
    FILE *out = fmemopen(why, sizeof(why), "w");
    assert_int_equal(sessd_audit_verify(files, 1, out, stderr), 0);
    fclose(out);
    assert_non_null(strstr(why, "intact, 1000 lines"));
}

static void times(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(sessd_revoke_parse_time("1732600000", &t), 0);
    assert_int_equal(t, 1732600000);
    assert_int_equal(sessd_revoke_parse_time("1970-01-02", &t), 0);
    assert_int_equal(t, 86400);
    assert_int_equal(sessd_revoke_parse_time("1970-01-01T01:00:05Z", &t), 0);
    assert_int_equal(t, 3605);
    assert_int_equal(sessd_revoke_parse_time("1970-01-01T00:02", &t), 0);
    assert_int_equal(t, 120);
    const char *bad[] = {"", "yesterday", "-5", "1970-01-01T", "1e9", "12 ", "9999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sessd_revoke_parse_time(bad[i], &t), -1);
}

static sess_record rec_with(const char *ip, const char *agent, int64_t created)
{
    sess_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.ip, sizeof(r.ip), "%s", ip);
    snprintf(r.agent, sizeof(r.agent), "%s", agent);
    r.created = created;
    return r;
}

static void filters(void **state)
{
    (void)state;
    sessd_revoke_filter f;
    memset(&f, 0, sizeof(f));
    assert_false(sessd_revoke_filter_set(&f));
    assert_int_equal(sessd_revoke_parse_cidr("10.0.0.0/8", &f), 0);
    assert_true(sessd_revoke_filter_set(&f));
    sess_record a = rec_with("10.255.1.1", "Firefox", 100), b = rec_with("11.0.0.1", "x", 100);
    sess_record mapped = rec_with("::ffff:10.1.2.3", "", 100), none = rec_with("", "", 100);
    assert_true(sessd_revoke_filter_match(&f, &a));
    assert_false(sessd_revoke_filter_match(&f, &b));
    assert_true(sessd_revoke_filter_match(&f, &mapped));
    assert_false(sessd_revoke_filter_match(&f, &none));
    /* Prefixes that are not byte-aligned; a single address; IPv6. */
    assert_int_equal(sessd_revoke_parse_cidr("192.168.4.0/22", &f), 0);
    sess_record in = rec_with("192.168.7.255", "", 0), out = rec_with("192.168.8.0", "", 0);
    assert_true(sessd_revoke_filter_match(&f, &in));
    assert_false(sessd_revoke_filter_match(&f, &out));
    assert_int_equal(sessd_revoke_parse_cidr("192.168.8.0", &f), 0);
    assert_int_equal(f.prefix, 32);
    assert_true(sessd_revoke_filter_match(&f, &out));
    assert_int_equal(sessd_revoke_parse_cidr("2001:db8::/33", &f), 0);
    sess_record v6 = rec_with("2001:db8:7fff::1", "", 0),
                v6out = rec_with("2001:db8:8000::1", "", 0);
    assert_true(sessd_revoke_filter_match(&f, &v6));
    assert_false(sessd_revoke_filter_match(&f, &v6out));
    assert_int_equal(sessd_revoke_parse_cidr("0.0.0.0/0", &f), 0);
    assert_true(sessd_revoke_filter_match(&f, &b));
    const char *bad[] = {"",         "/8", "10.0.0.0/",   "10.0.0.0/33", "::/129",
                         "10.0.0/8", "x",  "10.0.0.0/8x", "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sessd_revoke_parse_cidr(bad[i], &f), -1);

    /* Every filter given must match. */
    memset(&f, 0, sizeof(f));
    assert_int_equal(sessd_revoke_set_agent("firefox", &f), 0);
    f.has_before = true;
    f.created_before = 101;
    assert_true(sessd_revoke_filter_match(&f, &a));
    f.created_before = 100;
    assert_false(sessd_revoke_filter_match(&f, &a));
    assert_int_equal(sessd_revoke_set_agent("", &f), -1);
    assert_int_equal(sessd_revoke_set_agent("a\nb", &f), -1);
    char longer[SESS_AGENT_MAX + 2];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(sessd_revoke_set_agent(longer, &f), -1);
    longer[SESS_AGENT_MAX] = '\0';
    assert_int_equal(sessd_revoke_set_agent(longer, &f), 0);
}

/* The timing wrapper forwards every operation of the store interface: none is left NULL (an
 * operation added to store.h and forgotten here would crash the server when called). */
static void timed_store_forwards_everything(void **state)
{
    (void)state;
    sess_store *mem, *timed;
    char err[128];
    sess_store_opts o = {0};
    assert_int_equal(sess_store_memory_open(&o, &mem, err, sizeof(err)), 0);
    assert_int_equal(sessd_store_timed_new(mem, &timed), 0);
    assert_ptr_equal(sessd_store_timed_inner(timed), mem);
    const sess_store_ops *ops = timed->ops;
    size_t first = offsetof(sess_store_ops, close),
           n = (sizeof(*ops) - first) / sizeof(void (*)(void));
    for (size_t i = 0; i < n; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)ops + first + i * sizeof(fn), sizeof(fn));
        if (fn == NULL)
            fail_msg("operation %zu of sess_store_ops is not forwarded", i);
    }
    uint64_t count = 99;
    assert_int_equal(timed->ops->count(timed, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(timed->ops->set_roles(timed, "nobody", "a"), 0);
    sess_store_close(timed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_intact_and_escaped),
        cmocka_unit_test(malformed_utf8_still_verifies),
        cmocka_unit_test(escaped_detail_is_cut_whole),
        cmocka_unit_test(edits_and_deletions_are_named),
        cmocka_unit_test(rotation_continues_the_chain),
        cmocka_unit_test(concurrent_writers_keep_the_chain),
        cmocka_unit_test(torn_tail_is_cut_at_open),
        cmocka_unit_test(only_a_torn_tail_is_cut),
        cmocka_unit_test(times),
        cmocka_unit_test(filters),
        cmocka_unit_test(timed_store_forwards_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

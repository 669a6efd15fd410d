/* Fixture for scripts/ct-lint.mjs: every comparison below must be reported (make check runs the
 * lint on this file and fails if it passes). Not compiled. */
#include <string.h>

int bad_token(const char *token, const char *given, size_t n)
{
    return memcmp(token, given, n) == 0;
}

int bad_csrf(const char *csrf_expected, const char *sent)
{
    return strcmp(sent, csrf_expected) == 0;
}

int bad_password(const char *password, const char *stored)
{
    return strncmp(stored, password, 64) == 0;
}

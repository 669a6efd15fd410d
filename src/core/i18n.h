/*
 * i18n.h - the languages of the pages sessiond serves (English, French, German): one table of
 * strings per language, compiled in, and the choice of language for a request: the visitor's
 * `language` preference when it names one we have, else the best of Accept-Language by q-value,
 * else English.
 */
#ifndef SESSIOND_CORE_I18N_H
#define SESSIOND_CORE_I18N_H

#include <stddef.h>

/* Accept-Language headers longer than this are ignored whole (the default language is used):
 * a real browser sends well under 200 bytes. */
#define SESSD_ACCEPT_LANGUAGE_MAX 1024
/* Bytes of a language tag (RFC 5646 allows 35 in practice). */
#define SESSD_LANG_TAG_MAX 35

enum sessd_lang { SESSD_LANG_EN, SESSD_LANG_FR, SESSD_LANG_DE, SESSD_LANG_COUNT };

/* Every string a page shows. Each language's table (i18n.c) has an entry for each. */
#define SESSD_MSGS(X)                                                                              \
    X(SIGN_IN)                                                                                     \
    X(USERNAME)                                                                                    \
    X(PASSWORD)                                                                                    \
    X(REMEMBER)                                                                                    \
    X(ERR_INVALID)                                                                                 \
    X(ERR_EXPIRED_FORM)                                                                            \
    X(ERR_TOO_MANY)                                                                                \
    X(ERR_UNAVAILABLE)                                                                             \
    X(ERR_BUSY)                                                                                    \
    X(ERR_COOKIE_CONFLICT)                                                                         \
    X(ERR_REMEMBER_OFF)                                                                            \
    X(ERR_INVALID_CHOICE)                                                                          \
    X(PREFERENCES)                                                                                 \
    X(LANGUAGE)                                                                                    \
    X(LANGUAGE_AUTO)                                                                               \
    X(THEME)                                                                                       \
    X(THEME_SYSTEM)                                                                                \
    X(THEME_LIGHT)                                                                                 \
    X(THEME_DARK)                                                                                  \
    X(FONT_SIZE)                                                                                   \
    X(FONT_SMALL)                                                                                  \
    X(FONT_MEDIUM)                                                                                 \
    X(FONT_LARGE)                                                                                  \
    X(FONT_XLARGE)                                                                                 \
    X(SAVE)                                                                                        \
    X(SAVED)                                                                                       \
    X(PREFS_ANON_NOTE)                                                                             \
    X(DEVICES)                                                                                     \
    X(DEVICES_CAPTION)                                                                             \
    X(DEVICE)                                                                                      \
    X(ADDRESS)                                                                                     \
    X(CREATED)                                                                                     \
    X(LAST_SEEN)                                                                                   \
    X(THIS_DEVICE)                                                                                 \
    X(UNKNOWN_AGENT)                                                                               \
    X(REVOKE)                                                                                      \
    X(REVOKE_OTHERS)                                                                               \
    X(REVOKED)                                                                                     \
    X(SIGN_OUT)                                                                                    \
    X(SIGNED_OUT)                                                                                  \
    X(SIGN_IN_AGAIN)                                                                               \
    X(NAVIGATION)                                                                                  \
    X(SKIP)                                                                                        \
    X(REAUTH)                                                                                      \
    X(REAUTH_NOTE)                                                                                 \
    X(CHANGE_PASSWORD)                                                                             \
    X(CURRENT_PASSWORD)                                                                            \
    X(NEW_PASSWORD)                                                                                \
    X(NEW_PASSWORD_AGAIN)                                                                          \
    X(PASSWORD_HINT)                                                                               \
    X(PASSWORD_CHANGED)                                                                            \
    X(ERR_CURRENT_WRONG)                                                                           \
    X(ERR_PW_MISMATCH)                                                                             \
    X(ERR_PW_TOO_SHORT)                                                                            \
    X(ERR_PW_TOO_LONG)                                                                             \
    X(ERR_PW_INVALID)                                                                              \
    X(ERR_PW_COMMON)

enum sessd_msg {
#define SESSD_MSG_ENUM(name) SESSD_MSG_##name,
    SESSD_MSGS(SESSD_MSG_ENUM)
#undef SESSD_MSG_ENUM
        SESSD_MSG_COUNT
};

/* The text of `msg` in `lang` (static storage; never NULL). */
const char *sessd_msg(enum sessd_lang lang, enum sessd_msg msg);

/* The language's tag for <html lang> and the preference ("en", "fr", "de"). */
const char *sessd_lang_tag(enum sessd_lang lang);

/* The language a tag asks for ("fr", "fr-CA", "DE-at"), by its primary subtag; -1 when it is
 * not one we have or is not a tag (letters, digits and '-', at most SESSD_LANG_TAG_MAX bytes). */
int sessd_lang_from_tag(const char *tag, size_t len);

/* The best language of an Accept-Language value (RFC 9110 12.5.4): highest q first (q=0 means
 * "not this one"), the earlier item on a tie, '*' standing for the default. Malformed items are
 * skipped; a value longer than SESSD_ACCEPT_LANGUAGE_MAX, or one naming nothing we have, gives
 * -1. */
int sessd_lang_negotiate(const char *value, size_t len);

#endif

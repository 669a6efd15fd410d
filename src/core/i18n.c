/*
 * i18n.c - the string tables (one per language) and the choice of language for a request.
 * Designated initialisers tie each string to its message; the unit tests check that no table
 * leaves a message out.
 */
/* Long messages are written as adjacent string literals inside designated initializers; clang
 * takes that for a missing comma. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wstring-concatenation"
#endif
#include "core/i18n.h"

#include <stdbool.h>
#include <strings.h>

static const char *const en[SESSD_MSG_COUNT] = {
    [SESSD_MSG_SIGN_IN] = "Sign in",
    [SESSD_MSG_USERNAME] = "Username",
    [SESSD_MSG_PASSWORD] = "Password",
    [SESSD_MSG_REMEMBER] = "Keep me signed in",
    [SESSD_MSG_ERR_INVALID] = "Invalid username or password",
    [SESSD_MSG_ERR_EXPIRED_FORM] = "This form has expired; please try again.",
    [SESSD_MSG_ERR_TOO_MANY] = "Too many failed sign-ins. Please wait and try again later.",
    [SESSD_MSG_ERR_UNAVAILABLE] = "Signing in is not possible right now; please try again later.",
    [SESSD_MSG_ERR_BUSY] = "The server is busy; please try again.",
    [SESSD_MSG_ERR_COOKIE_CONFLICT] =
        "Your browser sent two different sign-in cookies or tokens, so neither was used. The "
        "cookies have been cleared as far as this site can; please sign in again.",
    [SESSD_MSG_ERR_REMEMBER_OFF] =
        "\u201cKeep me signed in\u201d is turned off on this site; please sign in without it.",
    [SESSD_MSG_ERR_INVALID_CHOICE] = "Please choose one of the offered values.",
    [SESSD_MSG_PREFERENCES] = "Preferences",
    [SESSD_MSG_LANGUAGE] = "Language",
    [SESSD_MSG_LANGUAGE_AUTO] = "As my browser asks",
    [SESSD_MSG_THEME] = "Theme",
    [SESSD_MSG_THEME_SYSTEM] = "Same as my system",
    [SESSD_MSG_THEME_LIGHT] = "Light",
    [SESSD_MSG_THEME_DARK] = "Dark",
    [SESSD_MSG_FONT_SIZE] = "Font size",
    [SESSD_MSG_FONT_SMALL] = "Small",
    [SESSD_MSG_FONT_MEDIUM] = "Medium",
    [SESSD_MSG_FONT_LARGE] = "Large",
    [SESSD_MSG_FONT_XLARGE] = "Extra large",
    [SESSD_MSG_SAVE] = "Save",
    [SESSD_MSG_SAVED] = "Your preferences have been saved.",
    [SESSD_MSG_PREFS_ANON_NOTE] =
        "You are not signed in: these choices are kept in this browser and join your account "
        "when you sign in.",
    [SESSD_MSG_DEVICES] = "Your devices",
    [SESSD_MSG_DEVICES_CAPTION] = "Where you are signed in",
    [SESSD_MSG_DEVICE] = "Device",
    [SESSD_MSG_ADDRESS] = "Address",
    [SESSD_MSG_CREATED] = "Signed in",
    [SESSD_MSG_LAST_SEEN] = "Last seen",
    [SESSD_MSG_THIS_DEVICE] = "This device",
    [SESSD_MSG_UNKNOWN_AGENT] = "Unknown browser",
    [SESSD_MSG_REVOKE] = "Sign out there",
    [SESSD_MSG_REVOKE_OTHERS] = "Sign out everywhere else",
    [SESSD_MSG_REVOKED] = "Signed out.",
    [SESSD_MSG_SIGN_OUT] = "Sign out",
    [SESSD_MSG_SIGNED_OUT] = "You are signed out.",
    [SESSD_MSG_SIGN_IN_AGAIN] = "Sign in again",
    [SESSD_MSG_NAVIGATION] = "Account",
    [SESSD_MSG_SKIP] = "Skip to content",
    [SESSD_MSG_REAUTH] = "Confirm your password",
    [SESSD_MSG_REAUTH_NOTE] =
        "This page needs a recent sign-in: enter your password again to continue.",
    [SESSD_MSG_CHANGE_PASSWORD] = "Change password",
    [SESSD_MSG_CURRENT_PASSWORD] = "Current password",
    [SESSD_MSG_NEW_PASSWORD] = "New password",
    [SESSD_MSG_NEW_PASSWORD_AGAIN] = "New password, again",
    [SESSD_MSG_PASSWORD_HINT] =
        "At least %s characters. A long passphrase of several unrelated words is strong and easy "
        "to remember; spaces and any characters are welcome. Changing it signs you out on every "
        "other device.",
    [SESSD_MSG_PASSWORD_CHANGED] =
        "Your password has been changed. Every other device has been signed out.",
    [SESSD_MSG_ERR_CURRENT_WRONG] = "The current password is not right.",
    [SESSD_MSG_ERR_PW_MISMATCH] = "The two new passwords are not the same.",
    [SESSD_MSG_ERR_PW_TOO_SHORT] = "The new password is too short: use at least %s characters.",
    [SESSD_MSG_ERR_PW_TOO_LONG] = "The new password is too long: at most 1024 bytes.",
    [SESSD_MSG_ERR_PW_INVALID] =
        "The new password contains a character that cannot be used (the null character).",
    [SESSD_MSG_ERR_PW_COMMON] =
        "This password is too common or too easy to guess (it is on a list of common passwords, "
        "or it is your username). Please choose another.",
};

static const char *const fr[SESSD_MSG_COUNT] = {
    [SESSD_MSG_SIGN_IN] = "Se connecter",
    [SESSD_MSG_USERNAME] = "Nom d’utilisateur",
    [SESSD_MSG_PASSWORD] = "Mot de passe",
    [SESSD_MSG_REMEMBER] = "Rester connecté",
    [SESSD_MSG_ERR_INVALID] = "Nom d’utilisateur ou mot de passe incorrect",
    [SESSD_MSG_ERR_EXPIRED_FORM] = "Ce formulaire a expiré ; veuillez réessayer.",
    [SESSD_MSG_ERR_TOO_MANY] =
        "Trop de tentatives de connexion échouées. Veuillez patienter puis réessayer.",
    [SESSD_MSG_ERR_UNAVAILABLE] =
        "La connexion est impossible pour le moment ; veuillez réessayer plus tard.",
    [SESSD_MSG_ERR_BUSY] = "Le serveur est occupé ; veuillez réessayer.",
    [SESSD_MSG_ERR_COOKIE_CONFLICT] =
        "Votre navigateur a envoyé deux cookies ou jetons de connexion différents : aucun n’a été "
        "utilisé. Les cookies ont été effacés autant que ce site le peut ; veuillez vous "
        "reconnecter.",
    [SESSD_MSG_ERR_REMEMBER_OFF] =
        "\u00ab\u00a0Rester connect\u00e9\u00a0\u00bb est d\u00e9sactiv\u00e9 sur ce site\u00a0; "
        "connectez-vous sans cette option.",
    [SESSD_MSG_ERR_INVALID_CHOICE] = "Veuillez choisir l’une des valeurs proposées.",
    [SESSD_MSG_PREFERENCES] = "Préférences",
    [SESSD_MSG_LANGUAGE] = "Langue",
    [SESSD_MSG_LANGUAGE_AUTO] = "Celle de mon navigateur",
    [SESSD_MSG_THEME] = "Thème",
    [SESSD_MSG_THEME_SYSTEM] = "Celui de mon système",
    [SESSD_MSG_THEME_LIGHT] = "Clair",
    [SESSD_MSG_THEME_DARK] = "Sombre",
    [SESSD_MSG_FONT_SIZE] = "Taille du texte",
    [SESSD_MSG_FONT_SMALL] = "Petite",
    [SESSD_MSG_FONT_MEDIUM] = "Moyenne",
    [SESSD_MSG_FONT_LARGE] = "Grande",
    [SESSD_MSG_FONT_XLARGE] = "Très grande",
    [SESSD_MSG_SAVE] = "Enregistrer",
    [SESSD_MSG_SAVED] = "Vos préférences ont été enregistrées.",
    [SESSD_MSG_PREFS_ANON_NOTE] =
        "Vous n’êtes pas connecté : ces choix sont gardés dans ce navigateur et rejoindront "
        "votre compte à la connexion.",
    [SESSD_MSG_DEVICES] = "Vos appareils",
    [SESSD_MSG_DEVICES_CAPTION] = "Où vous êtes connecté",
    [SESSD_MSG_DEVICE] = "Appareil",
    [SESSD_MSG_ADDRESS] = "Adresse",
    [SESSD_MSG_CREATED] = "Connecté le",
    [SESSD_MSG_LAST_SEEN] = "Dernière activité",
    [SESSD_MSG_THIS_DEVICE] = "Cet appareil",
    [SESSD_MSG_UNKNOWN_AGENT] = "Navigateur inconnu",
    [SESSD_MSG_REVOKE] = "Y déconnecter",
    [SESSD_MSG_REVOKE_OTHERS] = "Déconnecter tous les autres appareils",
    [SESSD_MSG_REVOKED] = "Déconnecté.",
    [SESSD_MSG_SIGN_OUT] = "Se déconnecter",
    [SESSD_MSG_SIGNED_OUT] = "Vous êtes déconnecté.",
    [SESSD_MSG_SIGN_IN_AGAIN] = "Se reconnecter",
    [SESSD_MSG_NAVIGATION] = "Compte",
    [SESSD_MSG_SKIP] = "Aller au contenu",
    [SESSD_MSG_REAUTH] = "Confirmez votre mot de passe",
    [SESSD_MSG_REAUTH_NOTE] = "Cette page demande une connexion récente : saisissez à nouveau "
                              "votre mot de passe pour continuer.",
    [SESSD_MSG_CHANGE_PASSWORD] = "Changer le mot de passe",
    [SESSD_MSG_CURRENT_PASSWORD] = "Mot de passe actuel",
    [SESSD_MSG_NEW_PASSWORD] = "Nouveau mot de passe",
    [SESSD_MSG_NEW_PASSWORD_AGAIN] = "Nouveau mot de passe, une seconde fois",
    [SESSD_MSG_PASSWORD_HINT] =
        "Au moins %s caractères. Une longue phrase de passe de plusieurs mots sans rapport entre "
        "eux est solide et facile à retenir ; les espaces et tous les caractères sont permis. Le "
        "changer vous déconnecte de tous vos autres appareils.",
    [SESSD_MSG_PASSWORD_CHANGED] =
        "Votre mot de passe a été changé. Tous vos autres appareils ont été déconnectés.",
    [SESSD_MSG_ERR_CURRENT_WRONG] = "Le mot de passe actuel n’est pas le bon.",
    [SESSD_MSG_ERR_PW_MISMATCH] = "Les deux nouveaux mots de passe ne sont pas identiques.",
    [SESSD_MSG_ERR_PW_TOO_SHORT] =
        "Le nouveau mot de passe est trop court : utilisez au moins %s caractères.",
    [SESSD_MSG_ERR_PW_TOO_LONG] = "Le nouveau mot de passe est trop long : 1024 octets au plus.",
    [SESSD_MSG_ERR_PW_INVALID] = "Le nouveau mot de passe contient un caractère qui ne peut pas "
                                 "être utilisé (le caractère nul).",
    [SESSD_MSG_ERR_PW_COMMON] =
        "Ce mot de passe est trop courant ou trop facile à deviner (il figure sur une liste de "
        "mots de passe courants, ou c’est votre nom d’utilisateur). Veuillez en choisir un autre.",
};

static const char *const de[SESSD_MSG_COUNT] = {
    [SESSD_MSG_SIGN_IN] = "Anmelden",
    [SESSD_MSG_USERNAME] = "Benutzername",
    [SESSD_MSG_PASSWORD] = "Passwort",
    [SESSD_MSG_REMEMBER] = "Angemeldet bleiben",
    [SESSD_MSG_ERR_INVALID] = "Benutzername oder Passwort ungültig",
    [SESSD_MSG_ERR_EXPIRED_FORM] = "Dieses Formular ist abgelaufen; bitte erneut versuchen.",
    [SESSD_MSG_ERR_TOO_MANY] =
        "Zu viele fehlgeschlagene Anmeldungen. Bitte warten und später erneut versuchen.",
    [SESSD_MSG_ERR_UNAVAILABLE] =
        "Die Anmeldung ist gerade nicht möglich; bitte später erneut versuchen.",
    [SESSD_MSG_ERR_BUSY] = "Der Server ist ausgelastet; bitte erneut versuchen.",
    [SESSD_MSG_ERR_COOKIE_CONFLICT] =
        "Ihr Browser hat zwei verschiedene Anmelde-Cookies oder -Token gesendet, daher wurde "
        "keines "
        "verwendet. Die Cookies wurden gelöscht, soweit diese Seite es kann; bitte melden Sie "
        "sich erneut an.",
    [SESSD_MSG_ERR_REMEMBER_OFF] = "\u201eAngemeldet bleiben\u201c ist auf dieser Seite "
                                   "abgeschaltet; bitte melden Sie sich ohne diese Option an.",
    [SESSD_MSG_ERR_INVALID_CHOICE] = "Bitte einen der angebotenen Werte wählen.",
    [SESSD_MSG_PREFERENCES] = "Einstellungen",
    [SESSD_MSG_LANGUAGE] = "Sprache",
    [SESSD_MSG_LANGUAGE_AUTO] = "Wie mein Browser",
    [SESSD_MSG_THEME] = "Darstellung",
    [SESSD_MSG_THEME_SYSTEM] = "Wie mein System",
    [SESSD_MSG_THEME_LIGHT] = "Hell",
    [SESSD_MSG_THEME_DARK] = "Dunkel",
    [SESSD_MSG_FONT_SIZE] = "Schriftgröße",
    [SESSD_MSG_FONT_SMALL] = "Klein",
    [SESSD_MSG_FONT_MEDIUM] = "Mittel",
    [SESSD_MSG_FONT_LARGE] = "Groß",
    [SESSD_MSG_FONT_XLARGE] = "Sehr groß",
    [SESSD_MSG_SAVE] = "Speichern",
    [SESSD_MSG_SAVED] = "Ihre Einstellungen wurden gespeichert.",
    [SESSD_MSG_PREFS_ANON_NOTE] =
        "Sie sind nicht angemeldet: Diese Auswahl bleibt in diesem Browser und wird bei der "
        "Anmeldung in Ihr Konto übernommen.",
    [SESSD_MSG_DEVICES] = "Ihre Geräte",
    [SESSD_MSG_DEVICES_CAPTION] = "Wo Sie angemeldet sind",
    [SESSD_MSG_DEVICE] = "Gerät",
    [SESSD_MSG_ADDRESS] = "Adresse",
    [SESSD_MSG_CREATED] = "Angemeldet am",
    [SESSD_MSG_LAST_SEEN] = "Zuletzt aktiv",
    [SESSD_MSG_THIS_DEVICE] = "Dieses Gerät",
    [SESSD_MSG_UNKNOWN_AGENT] = "Unbekannter Browser",
    [SESSD_MSG_REVOKE] = "Dort abmelden",
    [SESSD_MSG_REVOKE_OTHERS] = "Überall sonst abmelden",
    [SESSD_MSG_REVOKED] = "Abgemeldet.",
    [SESSD_MSG_SIGN_OUT] = "Abmelden",
    [SESSD_MSG_SIGNED_OUT] = "Sie sind abgemeldet.",
    [SESSD_MSG_SIGN_IN_AGAIN] = "Erneut anmelden",
    [SESSD_MSG_NAVIGATION] = "Konto",
    [SESSD_MSG_SKIP] = "Zum Inhalt springen",
    [SESSD_MSG_REAUTH] = "Passwort bestätigen",
    [SESSD_MSG_REAUTH_NOTE] = "Diese Seite verlangt eine frische Anmeldung: Geben Sie Ihr Passwort "
                              "erneut ein, um fortzufahren.",
    [SESSD_MSG_CHANGE_PASSWORD] = "Passwort ändern",
    [SESSD_MSG_CURRENT_PASSWORD] = "Aktuelles Passwort",
    [SESSD_MSG_NEW_PASSWORD] = "Neues Passwort",
    [SESSD_MSG_NEW_PASSWORD_AGAIN] = "Neues Passwort wiederholen",
    [SESSD_MSG_PASSWORD_HINT] =
        "Mindestens %s Zeichen. Eine lange Passphrase aus mehreren voneinander unabhängigen "
        "Wörtern ist sicher und leicht zu merken; Leerzeichen und alle Zeichen sind erlaubt. Eine "
        "Änderung meldet Sie auf allen anderen Geräten ab.",
    [SESSD_MSG_PASSWORD_CHANGED] =
        "Ihr Passwort wurde geändert. Alle anderen Geräte wurden abgemeldet.",
    [SESSD_MSG_ERR_CURRENT_WRONG] = "Das aktuelle Passwort ist nicht richtig.",
    [SESSD_MSG_ERR_PW_MISMATCH] = "Die beiden neuen Passwörter stimmen nicht überein.",
    [SESSD_MSG_ERR_PW_TOO_SHORT] =
        "Das neue Passwort ist zu kurz: Verwenden Sie mindestens %s Zeichen.",
    [SESSD_MSG_ERR_PW_TOO_LONG] = "Das neue Passwort ist zu lang: höchstens 1024 Bytes.",
    [SESSD_MSG_ERR_PW_INVALID] = "Das neue Passwort enthält ein Zeichen, das nicht verwendet "
                                 "werden kann (das Nullzeichen).",
    [SESSD_MSG_ERR_PW_COMMON] =
        "Dieses Passwort ist zu verbreitet oder zu leicht zu erraten (es steht auf einer Liste "
        "häufiger Passwörter oder ist Ihr Benutzername). Bitte wählen Sie ein anderes.",
};

static const char *const *const tables[SESSD_LANG_COUNT] = {en, fr, de};
static const char *const tags[SESSD_LANG_COUNT] = {"en", "fr", "de"};

const char *sessd_msg(enum sessd_lang lang, enum sessd_msg msg)
{
    const char *s = tables[lang][msg];
    return s != NULL ? s : en[msg];
}

const char *sessd_lang_tag(enum sessd_lang lang)
{
    return tags[lang];
}

static bool tag_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int sessd_lang_from_tag(const char *tag, size_t len)
{
    if (len == 0 || len > SESSD_LANG_TAG_MAX)
        return -1;
    size_t primary = 0;
    for (size_t i = 0; i < len; i++) {
        if (!tag_char(tag[i]))
            return -1;
        if (tag[i] == '-' && primary == 0)
            primary = i;
    }
    if (primary == 0)
        primary = len;
    for (int l = 0; l < SESSD_LANG_COUNT; l++)
        if (primary == 2 && strncasecmp(tag, tags[l], 2) == 0)
            return l;
    return -1;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* The weight of ";q=..." parameters in [p, end) in thousandths, or -1 when malformed. Other
 * parameters are not allowed in Accept-Language. */
static int weight(const char *p, const char *end)
{
    p = skip_ows(p, end);
    if (p == end)
        return 1000;
    if (*p != ';')
        return -1;
    p = skip_ows(p + 1, end);
    if (end - p < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
        return -1;
    p += 2;
    int w = 0, digits = 0;
    if (*p != '0' && *p != '1')
        return -1;
    w = (*p++ - '0') * 1000;
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
            w += (*p - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
    }
    if (skip_ows(p, end) != end || w > 1000)
        return -1;
    return w;
}

int sessd_lang_negotiate(const char *value, size_t len)
{
    if (value == NULL || len > SESSD_ACCEPT_LANGUAGE_MAX)
        return -1;
    const char *p = value, *end = value + len;
    int best = -1, best_w = 0;
    while (p < end) {
        const char *comma = p;
        while (comma < end && *comma != ',')
            comma++;
        const char *t = skip_ows(p, comma), *te = t;
        while (te < comma && *te != ';' && *te != ' ' && *te != '\t')
            te++;
        int w = weight(te, comma);
        int l =
            (te - t == 1 && *t == '*') ? SESSD_LANG_EN : sessd_lang_from_tag(t, (size_t)(te - t));
        if (l >= 0 && w > best_w) {
            best = l;
            best_w = w;
        }
        p = comma + 1;
    }
    return best;
}

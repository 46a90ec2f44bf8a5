/*
 * web/password.c - console passwords as argon2id hashes (libargon2).
 *
 * Runs in mugai-web (sign-in, account changes) and in its user commands.
 * Never stores, logs or returns a clear password. A sign-in for an unknown
 * account is checked against a dummy hash of the same cost, so that the
 * answer's timing does not tell which accounts exist.
 */
#include <string.h>

#include <argon2.h>
#include <glib.h>

#include "mg.h"
#include "web.h"

#define WEB_ARGON2_T 3           /* passes */
#define WEB_ARGON2_M (64 * 1024) /* KiB: 64 MiB */
#define WEB_ARGON2_P 1           /* lanes */
#define WEB_ARGON2_SALT 16
#define WEB_ARGON2_HASH 32

static char *dummy_hash; /* made once at start-up, before any thread */

char *web_password_hash(const char *password)
{
    char salt_hex[65];
    unsigned char salt[WEB_ARGON2_SALT];
    size_t len = argon2_encodedlen(WEB_ARGON2_T, WEB_ARGON2_M, WEB_ARGON2_P, WEB_ARGON2_SALT,
                                   WEB_ARGON2_HASH, Argon2_id);
    char *out;
    int rc;

    if (web_random_hex(salt_hex) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (unsigned char)g_ascii_xdigit_value(salt_hex[2 * i]) << 4 |
                  (unsigned char)g_ascii_xdigit_value(salt_hex[2 * i + 1]);
    out = g_malloc(len);
    rc = argon2id_hash_encoded(WEB_ARGON2_T, WEB_ARGON2_M, WEB_ARGON2_P, password, strlen(password),
                               salt, sizeof(salt), WEB_ARGON2_HASH, out, len);
    if (rc != ARGON2_OK) {
        mg_error("argon2id: %s", argon2_error_message(rc));
        g_free(out);
        return NULL;
    }
    return out;
}

int web_password_verify(const char *hash, const char *password)
{
    if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0) {
        if (dummy_hash != NULL)
            (void)argon2id_verify(dummy_hash, password, strlen(password));
        return 0;
    }
    return argon2id_verify(hash, password, strlen(password)) == ARGON2_OK;
}

int web_password_init(void)
{
    char pw[65];

    if (web_random_hex(pw) < 0)
        return -1;
    dummy_hash = web_password_hash(pw);
    return dummy_hash ? 0 : -1;
}

/*
 * sanitize/detect.c - classify an input by its content and its name, and
 * apply the file policy: which converter, or why it is blocked or held.
 *
 * Runs in the trusted engine on libmagic's verdict (never on the bytes
 * themselves). The content type decides the converter; a name that claims
 * another type is a finding. It must never let an active or unknown type
 * through: anything not listed here is blocked.
 */
#include <string.h>

#include <glib.h>

#include "san.h"
#include "san_int.h"

typedef struct mime_rule {
    const char *mime; /* exact MIME type, or prefix when ending in '*' */
    const char *kind;
    const char *img_type;
} mime_rule;

/* Content types mugai converts, and the extensions that honestly name them. */
static const mime_rule convertible[] = {
    {"application/pdf", "pdf", NULL},
    {"image/png", "image", "png"},
    {"image/jpeg", "image", "jpeg"},
    {"image/gif", "image", "gif"},
    {"image/bmp", "image", "bmp"},
    {"image/x-ms-bmp", "image", "bmp"},
    {"image/tiff", "image", "tiff"},
    {"image/webp", "image", "webp"},
    {"application/msword", "office", NULL},
    {"application/vnd.ms-excel", "office", NULL},
    {"application/vnd.ms-powerpoint", "office", NULL},
    {"application/vnd.ms-office", "office", NULL},
    {"application/CDFV2", "office", NULL},
    {"application/vnd.openxmlformats-officedocument.*", "office", NULL},
    {"application/vnd.ms-word.*", "office", NULL},
    {"application/vnd.ms-excel.*", "office", NULL},
    {"application/vnd.ms-powerpoint.*", "office", NULL},
    {"application/vnd.oasis.opendocument.text", "office", NULL},
    {"application/vnd.oasis.opendocument.spreadsheet", "office", NULL},
    {"application/vnd.oasis.opendocument.presentation", "office", NULL},
    {"text/rtf", "office", NULL},
    {"application/rtf", "office", NULL},
    {"text/html", "html", NULL},
    {"message/rfc822", "mail", NULL},
    {"application/zip", "archive", NULL},
    {"application/x-7z-compressed", "archive", NULL},
    {"application/x-lzh-compressed", "archive", NULL},
    {"application/x-tar", "archive", NULL},
    {"application/gzip", "archive", NULL},
    {"application/x-bzip2", "archive", NULL},
    {"application/x-xz", "archive", NULL},
    {"application/x-rar", "archive", NULL},
    {"application/vnd.rar", "archive", NULL},
    {"application/x-cpio", "archive", NULL},
    {"application/vnd.ms-cab-compressed", "archive", NULL},
    {"text/csv", "csv", NULL},
    {"text/*", "text", NULL},
    {"inode/x-empty", "text", NULL},
    {"application/x-empty", "text", NULL},
};

/* Content types that are blocked outright, by kind. */
static const mime_rule blocked[] = {
    {"application/x-executable", "executable", NULL},
    {"application/x-pie-executable", "executable", NULL},
    {"application/x-sharedlib", "executable", NULL},
    {"application/x-object", "executable", NULL},
    {"application/x-dosexec", "executable", NULL},
    {"application/x-msdownload", "executable", NULL},
    {"application/vnd.microsoft.portable-executable", "executable", NULL},
    {"application/x-mach-binary", "executable", NULL},
    {"application/java-archive", "executable", NULL},
    {"application/x-java-applet", "executable", NULL},
    {"application/vnd.android.package-archive", "executable", NULL},
    {"application/x-msi", "executable", NULL},
    {"text/x-shellscript", "script", NULL},
    {"text/x-python", "script", NULL},
    {"text/x-script.python", "script", NULL},
    {"text/x-perl", "script", NULL},
    {"text/x-php", "script", NULL},
    {"text/x-ruby", "script", NULL},
    {"text/x-tcl", "script", NULL},
    {"text/x-lua", "script", NULL},
    {"text/x-msdos-batch", "script", NULL},
    {"text/javascript", "script", NULL},
    {"application/javascript", "script", NULL},
    {"application/x-ms-shortcut", "shortcut", NULL},
    {"application/x-iso9660-image", "disk-image", NULL},
    {"application/x-qemu-disk", "disk-image", NULL},
    {"application/x-virtualbox-vdi", "disk-image", NULL},
    {"application/x-virtualbox-vhd", "disk-image", NULL},
    {"application/x-vhd", "disk-image", NULL},
    {"application/x-apple-diskimage", "disk-image", NULL},
    {"application/x-raw-disk-image", "disk-image", NULL},
    {"application/encrypted", "encrypted", NULL},
};

typedef struct ext_rule {
    const char *kind;
    const char *exts; /* space-separated */
} ext_rule;

/* Extensions that name something dangerous whatever the content is. */
static const ext_rule dangerous_ext[] = {
    {"executable", "exe com scr pif msi msp mst dll cpl sys drv ocx app apk jar elf bin run"},
    {"script", "bat cmd vbs vbe js jse mjs wsf wsh ws ps1 psm1 psd1 hta sh bash zsh csh ksh py pyw "
               "pl rb php reg scpt applescript xsl svg svgz xht xhtml mht mhtml"},
    {"shortcut", "lnk url scf website desktop appref-ms library-ms settingcontent-ms inf"},
    {"disk-image", "iso img vhd vhdx vmdk dmg udf"},
};

/* OOXML and ODF documents that libmagic sees only as zips. */
static const mime_rule zipped_office = {"application/zip", "office", NULL};

/* Extensions that honestly name each convertible kind (images by type). */
static const ext_rule honest_ext[] = {
    {"pdf", "pdf"},
    {"png", "png"},
    {"jpeg", "jpg jpeg jpe jfif"},
    {"gif", "gif"},
    {"bmp", "bmp dib"},
    {"tiff", "tif tiff"},
    {"webp", "webp"},
    {"office", "doc docx docm dot dotx dotm xls xlsx xlsm xlt xltx xltm ppt pptx pptm pps ppsx pot "
               "potx odt ods odp ott ots otp rtf"},
    {"html", "html htm"},
    {"mail", "eml msg"},
    {"archive", "zip 7z lzh lha tar gz tgz bz2 tbz2 xz txz rar cab cpio"},
    {"csv", "csv tsv"},
    {"text", "txt text log md ini cfg conf json xml yaml yml tsv csv eml"},
};

/* Non-zero when word appears in the space-separated list. */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);

    if (n == 0)
        return 0;
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* The rule matching mime in a table, or NULL. */
static const mime_rule *match_mime(const mime_rule *rules, size_t n, const char *mime)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rules[i].mime);
        if (rules[i].mime[len - 1] == '*' ? strncmp(mime, rules[i].mime, len - 1) == 0
                                          : g_ascii_strcasecmp(mime, rules[i].mime) == 0)
            return &rules[i];
    }
    return NULL;
}

/* Kind named by ext in a table of extension rules, or NULL. */
static const char *ext_kind(const ext_rule *rules, size_t n, const char *ext)
{
    for (size_t i = 0; i < n; i++)
        if (in_list(rules[i].exts, ext))
            return rules[i].kind;
    return NULL;
}

int san_ext_names(const char *ext, const char *kind)
{
    return ext && g_strcmp0(ext_kind(honest_ext, G_N_ELEMENTS(honest_ext), ext), kind) == 0;
}

/* Lower-case extension of name's last component into buf ("" when none). */
static const char *extension(const char *name, char *buf, size_t len)
{
    const char *base = strrchr(name, '/');
    const char *dot;

    base = base ? base + 1 : name;
    dot = strrchr(base, '.');
    buf[0] = '\0';
    if (dot && dot != base && strlen(dot + 1) < len)
        for (size_t i = 0; (buf[i] = g_ascii_tolower(dot[1 + i])) != '\0'; i++)
            ;
    return buf;
}

/* Mark out as blocked (or held) with a kind and a formatted reason. */
static void block(san_class *out, int verdict, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void block(san_class *out, int verdict, const char *kind, const char *fmt, ...)
{
    va_list ap;

    out->verdict = verdict;
    out->kind = kind;
    out->out_ext = NULL;
    va_start(ap, fmt);
    g_vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

/* Output extension for a convertible kind. */
static const char *output_ext(const char *kind, const char *img_type)
{
    if (strcmp(kind, "pdf") == 0 || strcmp(kind, "office") == 0)
        return "pdf";
    if (strcmp(kind, "image") == 0)
        return strcmp(img_type, "jpeg") == 0 ? "jpg" : "png";
    if (strcmp(kind, "csv") == 0)
        return "csv";
    if (strcmp(kind, "archive") == 0)
        return "zip";
    if (strcmp(kind, "mail") == 0)
        return "eml";
    return "txt";
}

/* Apply the policy to a convertible type: note a name that claims something else. */
static void classify_convertible(const mime_rule *r, const char *mime, san_class *out)
{
    const char *honest = r->img_type ? r->img_type : r->kind;
    const char *named = ext_kind(honest_ext, G_N_ELEMENTS(honest_ext), out->ext);

    out->verdict = SAN_SANITIZED;
    out->kind = r->kind;
    out->img_type = r->img_type;
    out->out_ext = output_ext(r->kind, r->img_type);
    /* A CSV is text/plain to libmagic: the name decides between the two text kinds. */
    if (strcmp(r->kind, "text") == 0 && in_list("csv tsv", out->ext)) {
        out->kind = "csv";
        out->out_ext = "csv";
    } else if (named && strcmp(named, honest) != 0) {
        g_snprintf(out->reason, sizeof(out->reason),
                   "content is %s but the name says .%s; converted by content", mime, out->ext);
    }
}

void san_classify(const char *mime, const char *desc, const char *name, san_class *out)
{
    static char ext_buf[32];
    const char *danger;
    const mime_rule *r;

    memset(out, 0, sizeof(*out));
    out->name = name;
    out->ext = g_intern_string(extension(name, ext_buf, sizeof(ext_buf)));
    danger = ext_kind(dangerous_ext, G_N_ELEMENTS(dangerous_ext), out->ext);
    if (desc && strstr(desc, "Encrypted") != NULL)
        mime = "application/encrypted";
    /* libmagic's guess at a DOS .COM program rests on a few first bytes, which ordinary
     * Shift_JIS text can start with. Named as text, it is converted as text: the output is
     * only the decoded characters, so a real program gains nothing. */
    if (desc && strncmp(desc, "DOS executable (COM", 19) == 0 &&
        g_strcmp0(ext_kind(honest_ext, G_N_ELEMENTS(honest_ext), out->ext), "text") == 0 &&
        !danger) {
        classify_convertible(&(mime_rule){"text/plain", "text", NULL}, "text/plain", out);
        g_snprintf(out->reason, sizeof(out->reason),
                   "libmagic guessed a DOS program; converted as text as the name says");
        return;
    }
    if ((r = match_mime(blocked, G_N_ELEMENTS(blocked), mime)) != NULL) {
        const char *claims = ext_kind(honest_ext, G_N_ELEMENTS(honest_ext), out->ext);
        if (strcmp(r->kind, "encrypted") == 0)
            block(out, SAN_HELD, "encrypted", "encrypted document (%s): cannot inspect", mime);
        else if (claims && strcmp(claims, "text") != 0)
            block(out, SAN_BLOCKED, "mismatch", "content is %s (%s) but the name says .%s: blocked",
                  mime, r->kind, out->ext);
        else
            block(out, SAN_BLOCKED, r->kind, "%s (%s): blocked by policy", r->kind, mime);
        return;
    }
    if (danger) {
        block(out, SAN_BLOCKED, danger, "a .%s file is treated as %s: blocked by policy", out->ext,
              danger);
        return;
    }
    /* A message libmagic cannot name (a NUL in a header, say) is still parsed as mail when
     * it is named as one: the clean copy is rebuilt from converted parts only. */
    if (in_list("eml msg", out->ext) &&
        (strcmp(mime, "application/octet-stream") == 0 || strncmp(mime, "text/", 5) == 0))
        mime = "message/rfc822";
    if ((r = match_mime(convertible, G_N_ELEMENTS(convertible), mime)) != NULL) {
        const char *claims = ext_kind(honest_ext, G_N_ELEMENTS(honest_ext), out->ext);
        /* OOXML and ODF files are zips; libmagic names them so only when the parts it looks
         * for come first. The name decides, and LibreOffice reads the content. */
        if (strcmp(r->kind, "archive") == 0 && g_strcmp0(claims, "office") == 0 &&
            strcmp(mime, "application/zip") == 0)
            r = &zipped_office;
        classify_convertible(r, mime, out);
        return;
    }
    block(out, SAN_BLOCKED, "unknown", "unknown or unsupported type %s (%s): blocked by policy",
          mime, desc ? desc : "no description");
}

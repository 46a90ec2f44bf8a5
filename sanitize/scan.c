/*
 * sanitize/scan.c - virus scanning with libclamav.
 *
 * Runs in the trusted engine (the sanitize-file process, later each pool
 * worker) with the engine compiled once. A missing or unusable database is
 * a start-up error unless the configuration explicitly allows running
 * unscanned, and then it is said loudly: never a silent pass. libclamav runs
 * here, outside the jail, on untrusted bytes: only the parsers of what the
 * engine converts are enabled, and every scan is bounded by the configuration.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clamav.h>
#include <glib.h>

#include "mg.h"
#include "san_int.h"

struct san_scanner {
    struct cl_engine *engine; /* NULL when scanning is off */
};

/* Layers libclamav may open inside one document on top of the archive nesting the engine allows
 * (an OOXML zip, its OLE2 VBA project, the project's streams, a PDF's object streams...). */
#define SCAN_DOC_LAYERS 8

/* The parsers libclamav may run on a part: those of what the engine converts and delivers (PDF;
 * Office as OLE2, as zipped XML and as RTF, which the archive option covers; HTML; images), so
 * that signatures for what hides inside them still match. Programs (PE, ELF), Flash, HWP and
 * OneNote are removed whatever they hold, and mail is split by the engine itself, so their
 * parsers never run in this trusted process; neither does the image fuzzy hash, which decodes
 * whole images, nor the XML document parser: libxml2 would open any ICU converter a document's
 * encoding declaration names, past the charset allow-list (charset.c). Hash signatures match the
 * whole file of every type all the same. */
#define SCAN_PARSERS                                                                               \
    (CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_PDF | CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_HTML |         \
     CL_SCAN_PARSE_IMAGE)

/* Bound one scan from the configuration: bytes read (the file, and all it unpacks), nesting,
 * files unpacked and time (a part's scan gets what its conversion gets). 0 or -1. */
static int scan_limits(struct cl_engine *engine, const conf *c)
{
    const long long file = (long long)c->scan_max_file_mb * 1024 * 1024;
    const struct {
        enum cl_engine_field field;
        long long value;
    } limits[] = {
        {CL_ENGINE_MAX_FILESIZE, file},
        {CL_ENGINE_MAX_SCANSIZE, file * 4},
        {CL_ENGINE_MAX_RECURSION, (long long)c->archive_max_depth + SCAN_DOC_LAYERS},
        {CL_ENGINE_MAX_FILES, (long long)c->archive_max_entries},
        {CL_ENGINE_MAX_SCANTIME, (long long)c->jail_timeout * 1000},
    };

    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (cl_engine_set_num(engine, limits[i].field, limits[i].value) != CL_SUCCESS)
            return -1;
    return 0;
}

/* Load and compile the database; on failure a message in *err. */
static struct cl_engine *scan_load(const conf *c, char **err)
{
    static int initialized;
    struct cl_engine *engine;
    unsigned int sigs = 0;
    cl_error_t rc;

    if (!initialized) {
        if ((rc = cl_init(CL_INIT_DEFAULT)) != CL_SUCCESS) {
            *err = g_strdup_printf("cannot initialize libclamav: %s", cl_strerror(rc));
            return NULL;
        }
        initialized = 1;
    }
    if (!(engine = cl_engine_new())) {
        *err = g_strdup("cannot create the ClamAV engine: out of memory");
        return NULL;
    }
    if (scan_limits(engine, c) < 0)
        *err = g_strdup("cannot set ClamAV limits");
    else if ((rc = cl_load(c->clamav_db_dir, engine, &sigs, CL_DB_STDOPT)) != CL_SUCCESS)
        *err = g_strdup_printf("%s: cannot load the ClamAV signature database: %s",
                               c->clamav_db_dir, cl_strerror(rc));
    else if (sigs == 0)
        *err = g_strdup_printf("%s: the ClamAV signature database holds no signatures",
                               c->clamav_db_dir);
    else if ((rc = cl_engine_compile(engine)) != CL_SUCCESS)
        *err = g_strdup_printf("%s: cannot compile the ClamAV database: %s", c->clamav_db_dir,
                               cl_strerror(rc));
    if (*err) {
        cl_engine_free(engine);
        return NULL;
    }
    mg_info("ClamAV: %u signatures loaded from %s", sigs, c->clamav_db_dir);
    return engine;
}

san_scanner *scan_new(const conf *c, char **err)
{
    san_scanner *s;
    char *why = NULL;
    struct cl_engine *engine;

    *err = NULL;
    engine = scan_load(c, &why);
    if (!engine && c->scan_required) {
        *err = strdup(why);
        g_free(why);
        return NULL;
    }
    if (!engine) {
        mg_warn("VIRUS SCANNING IS OFF: %s ([scan] required = false)", why);
        g_free(why);
    }
    s = g_new0(san_scanner, 1);
    s->engine = engine;
    return s;
}

void scan_free(san_scanner *s)
{
    if (!s)
        return;
    if (s->engine)
        cl_engine_free(s->engine);
    g_free(s);
}

int scan_active(const san_scanner *s)
{
    return s && s->engine != NULL;
}

int scan_fd(san_scanner *s, int fd, const char *name, const char **virname, char *why,
            size_t why_len)
{
    struct cl_scan_options opts = {0};
    unsigned long scanned = 0;
    cl_error_t rc;

    *virname = NULL;
    if (!s->engine)
        return 0;
    opts.parse = SCAN_PARSERS;
    opts.general = CL_SCAN_GENERAL_HEURISTICS;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        g_snprintf(why, why_len, "cannot rewind input for scanning");
        return -1;
    }
    rc = cl_scandesc(fd, name, virname, &scanned, s->engine, &opts);
    if (rc == CL_VIRUS)
        return 1;
    if (rc == CL_CLEAN)
        return 0;
    g_snprintf(why, why_len, "virus scan failed: %s", cl_strerror(rc));
    return -1;
}

/*
 * tools/sanitize-file.c - the command staff use to carry files across:
 * sanitize files, directories and (later) messages into an output folder.
 *
 * Runs as the invoking user. Reads inputs read-only, never modifies them,
 * never overwrites an output without --force, and reports every input
 * with a verdict: nothing is skipped silently.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "mg.h"
#include "quar.h"
#include "san.h"

enum { EXIT_ALL_SANITIZED = 0, EXIT_SOME_REMOVED = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

typedef struct job {
    char *input;   /* path as given or found */
    char *out_dir; /* directory of the output */
    char *stem;    /* output name without extension */
    int symlink;   /* found as a symbolic link: reported, not followed */
} job;

typedef struct options {
    const char *config;
    const char *out_dir;
    int json;
    int force;
    int quiet;
    int progress;
} options;

/* Print the help text to out. */
static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: sanitize-file [OPTION]... -o OUTDIR INPUT...\n"
        "\n"
        "Make files harmless before they cross into the LGWAN segment: documents and images\n"
        "become image-only PDFs or plain images, text becomes UTF-8 text, and anything\n"
        "active or unknown is blocked. Every input is scanned for viruses. Inputs are never\n"
        "modified; directories are processed recursively and their layout is kept.\n"
        "\n"
        "  -o, --output DIR    write sanitized files here (created if missing)\n"
        "  -c, --config FILE   configuration file (default " CONF_DEFAULT_PATH ")\n"
        "      --json          print the report as one JSON document\n"
        "  -f, --force         overwrite existing outputs\n"
        "  -q, --quiet         print only inputs that were not sanitized\n"
        "      --no-progress   no progress line on a terminal\n"
        "  -h, --help          show this help\n"
        "      --version       show the version\n"
        "\n"
        "What happens to each kind of input:\n"
        "  PDF, Word, Excel, PowerPoint, OpenDocument, RTF  -> NAME.pdf (pages as images,\n"
        "                                                      searchable text laid over them)\n"
        "  Excel and Calc spreadsheets, in addition         -> NAME-SHEET.csv per sheet\n"
        "  PNG, JPEG, GIF, BMP, TIFF, WebP                  -> NAME.png or NAME.jpg\n"
        "  text (UTF-8, Shift_JIS, EUC-JP, ISO-2022-JP)     -> NAME.txt (UTF-8)\n"
        "  CSV                                              -> NAME.csv (formulas disarmed)\n"
        "  HTML                                             -> NAME.txt (text and link targets)\n"
        "  mail messages (.eml)                             -> NAME.eml (text body with a\n"
        "                                                      notice, attachments sanitized;\n"
        "                                                      the original is quarantined)\n"
        "  archives (zip, 7z, lzh, tar, cpio, rar, cab;     -> NAME.zip of the sanitized\n"
        "    gz, bz2, xz around them)                          members (bounded against bombs)\n"
        "  encrypted documents and archives                 -> held (cannot be inspected)\n"
        "  programs, scripts, shortcuts, disk images, unknown types, viruses,\n"
        "  and files whose content contradicts a dangerous name -> blocked\n"
        "\n"
        "Exit status:\n"
        "  0  every input was sanitized\n"
        "  1  at least one input was blocked, held or failed (the others were written)\n"
        "  2  usage or configuration error (nothing was processed)\n"
        "  3  internal error\n"
        "\n"
        "Examples:\n"
        "  sanitize-file -o /srv/lgwan/incoming 見積書.pdf 写真.jpg\n"
        "  sanitize-file --json -o out/ received/ > report.json\n"
        "  sanitize-file -c ./mugai.conf --force -o out/ data.xlsx\n");
}

/* Output name without extension; name keeps its extension when stems would collide. */
static char *stem_of(const char *path)
{
    gchar *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');

    if (dot && dot != base)
        *dot = '\0';
    return base;
}

/* Add one job. */
static void add_job(GPtrArray *jobs, const char *input, const char *out_dir, int symlink)
{
    job *j = g_new0(job, 1);

    j->input = g_strdup(input);
    j->out_dir = g_strdup(out_dir);
    j->stem = stem_of(input);
    j->symlink = symlink;
    g_ptr_array_add(jobs, j);
}

/* Free one job. */
static void job_free(gpointer p)
{
    job *j = p;

    g_free(j->input);
    g_free(j->out_dir);
    g_free(j->stem);
    g_free(j);
}

/* Order directory entries by name, for a stable report. */
static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk dir recursively, adding a job per file with outputs under out_dir; skips skip_dir. */
static int walk(GPtrArray *jobs, const char *dir, const char *out_dir, const struct stat *skip)
{
    GError *err = NULL;
    GDir *d = g_dir_open(dir, 0, &err);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!d) {
        fprintf(stderr, "sanitize-file: %s\n", err->message);
        g_error_free(err);
        g_ptr_array_free(names, TRUE);
        return -1;
    }
    while ((name = g_dir_read_name(d)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_dir_close(d);
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        const char *n = *(char **)&names->pdata[i];
        gchar *path = g_build_filename(dir, n, NULL);
        gchar *sub = g_build_filename(out_dir, n, NULL);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (!(st.st_dev == skip->st_dev && st.st_ino == skip->st_ino))
                walk(jobs, path, sub, skip);
        } else {
            add_job(jobs, path, out_dir, lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
        }
        g_free(path);
        g_free(sub);
    }
    g_ptr_array_free(names, TRUE);
    return 0;
}

/* The output extension an input's name suggests, to foresee name collisions (the content
 * decides in the end; a collision the names did not foresee fails as "exists"). */
static const char *likely_ext(const char *input)
{
    static const char *const classes[][2] = {
        {"pdf", "pdf doc docx docm dot dotx xls xlsx xlsm ppt pptx pptm odt ods odp rtf"},
        {"png", "png jpg jpeg jpe jfif gif bmp dib tif tiff webp"},
        {"txt", "txt text log md html htm"},
        {"csv", "csv tsv"},
        {"eml", "eml msg"},
        {"zip", "zip 7z lzh lha tar gz tgz bz2 xz rar cab"},
    };
    const char *dot = strrchr(input, '.');
    gchar *ext = g_ascii_strdown(dot ? dot + 1 : "", -1);
    const char *found = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(classes) && !found; i++) {
        gchar **words = g_strsplit(classes[i][1], " ", -1);
        if (*ext && g_strv_contains((const gchar *const *)words, ext))
            found = classes[i][0];
        g_strfreev(words);
    }
    g_free(ext);
    return found ? found : "other";
}

/* The key two jobs share when their outputs would have the same name. */
static gchar *collision_key(const job *j)
{
    return g_strdup_printf("%s/%s.%s", j->out_dir, j->stem, likely_ext(j->input));
}

/* Where two inputs would give the same output name, keep their full names as stems. */
static void resolve_collisions(GPtrArray *jobs)
{
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < jobs->len; i++) {
        gchar *key = collision_key(jobs->pdata[i]);
        g_hash_table_insert(seen, key,
                            GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(seen, key)) + 1));
    }
    for (guint i = 0; i < jobs->len; i++) {
        job *j = jobs->pdata[i];
        gchar *key = collision_key(j);
        if (GPOINTER_TO_UINT(g_hash_table_lookup(seen, key)) > 1) {
            g_free(j->stem);
            j->stem = g_path_get_basename(j->input);
        }
        g_free(key);
    }
    g_hash_table_destroy(seen);
}

/* Build the job list from the command line's inputs. -1 when an input does not exist. */
static int collect(GPtrArray *jobs, char **inputs, int n, const char *out_dir)
{
    struct stat out_st = {0};
    int rc = 0;

    stat(out_dir, &out_st);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (lstat(inputs[i], &st) < 0) {
            fprintf(stderr, "sanitize-file: %s: %s\n", inputs[i], g_strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            gchar *clean = g_canonicalize_filename(inputs[i], NULL);
            gchar *base = g_path_get_basename(clean);
            gchar *sub = g_build_filename(out_dir, strcmp(base, "/") == 0 ? "root" : base, NULL);
            if (walk(jobs, inputs[i], sub, &out_st) < 0)
                rc = -1;
            g_free(clean);
            g_free(base);
            g_free(sub);
        } else {
            add_job(jobs, inputs[i], out_dir, S_ISLNK(st.st_mode));
        }
    }
    resolve_collisions(jobs);
    return rc;
}

/* Print the JSON report: every input and the summary. */
static void print_json(JsonArray *arr, const unsigned counts[4])
{
    JsonObject *root = json_object_new(), *sum = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    JsonGenerator *gen = json_generator_new();
    gchar *text;

    json_object_set_int_member(root, "version", 1);
    json_object_set_array_member(root, "inputs", json_array_ref(arr));
    json_object_set_int_member(sum, "sanitized", counts[SAN_SANITIZED]);
    json_object_set_int_member(sum, "blocked", counts[SAN_BLOCKED]);
    json_object_set_int_member(sum, "held", counts[SAN_HELD]);
    json_object_set_int_member(sum, "failed", counts[SAN_FAILED]);
    json_object_set_object_member(root, "summary", sum);
    json_node_take_object(node, root);
    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
    g_free(text);
    g_object_unref(gen);
    json_node_unref(node);
}

/* Print one input's result for people. */
static void print_text(const job *j, const san_result *r, int quiet)
{
    if (quiet && r->verdict == SAN_SANITIZED)
        return;
    printf("%-10s %s\n", san_verdict_name(r->verdict), j->input);
    if (r->output_path) {
        printf("           -> %s (%s", r->output_path, r->kind);
        if (r->pages > 1 || (r->pages == 1 && strcmp(r->kind, "image") != 0))
            printf(", %u page%s", r->pages, r->pages == 1 ? "" : "s");
        printf(", %.2f s)\n", r->seconds);
    }
    for (size_t i = 0; i < r->nsheets; i++)
        if (r->sheets[i].output_path)
            printf("           -> %s (sheet %s%s, csv)\n", r->sheets[i].output_path,
                   r->sheets[i].name, r->sheets[i].hidden ? ", hidden" : "");
    if (r->verdict != SAN_SANITIZED || (r->reason && strcmp(r->reason, "converted") != 0))
        printf("           %s: %s\n", r->verdict == SAN_SANITIZED ? "note" : "reason", r->reason);
    for (size_t i = 0; r->mail && i < r->mail->nparts; i++) {
        const quar_part *p = &r->mail->parts[i];
        if (strcmp(p->action, "body") != 0)
            printf("           part %s %s: %s (%s)\n", p->path,
                   p->filename ? p->filename : p->declared_type, p->action, p->reason);
    }
    for (size_t i = 0; i < r->nmembers; i++)
        printf("           member %s: %s (%s)\n", r->members[i].name,
               san_verdict_name(r->members[i].r.verdict),
               r->members[i].r.reason ? r->members[i].r.reason : "");
}

/* Show "[i/n] name" on the terminal while an input is being worked on. */
static void progress(const options *o, guint i, guint n, const char *name)
{
    if (!o->progress)
        return;
    if (name)
        fprintf(stderr, "\r\033[K[%u/%u] %s", i + 1, n, name);
    else
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* Create dir and its parents. 0 or -1 with a message. */
static int make_dir(const char *dir)
{
    if (g_mkdir_with_parents(dir, 0777) < 0) {
        fprintf(stderr, "sanitize-file: %s: cannot create directory: %s\n", dir, g_strerror(errno));
        return -1;
    }
    return 0;
}

/* Sanitize one job into r. 0, or -1 on an internal error. */
static int run_job(san_engine *e, const options *o, const job *j, san_result *r)
{
    if (j->symlink) {
        memset(r, 0, sizeof(*r));
        r->verdict = SAN_FAILED;
        r->kind = g_strdup("unknown");
        r->reason = g_strdup("symbolic link: not followed");
        return 0;
    }
    if (make_dir(j->out_dir) < 0) {
        memset(r, 0, sizeof(*r));
        r->verdict = SAN_FAILED;
        r->kind = g_strdup("unknown");
        r->reason = g_strdup_printf("cannot create output directory %s", j->out_dir);
        return -1;
    }
    return san_file(e, j->input, j->input, j->out_dir, j->stem, o->force, r);
}

/* Sanitize every job, printing the report. Returns the exit status. */
static int run_all(san_engine *e, const conf *c, const options *o, GPtrArray *jobs)
{
    unsigned counts[4] = {0, 0, 0, 0};
    JsonArray *arr = json_array_new();
    int internal = 0;

    for (guint i = 0; i < jobs->len; i++) {
        job *j = jobs->pdata[i];
        san_result r;
        progress(o, i, jobs->len, j->input);
        if (run_job(e, o, j, &r) < 0)
            internal = 1;
        progress(o, i, jobs->len, NULL);
        counts[r.verdict]++;
        san_audit_write(c, "sanitize-file", j->input, &r);
        if (o->json)
            json_array_add_element(arr, san_result_to_json(j->input, &r));
        else
            print_text(j, &r, o->quiet);
        if (r.verdict != SAN_SANITIZED)
            mg_info("%s: %s: %s", j->input, san_verdict_name(r.verdict), r.reason);
        san_result_clear(&r);
    }
    if (o->json)
        print_json(arr, counts);
    else if (!o->quiet || counts[0] != jobs->len)
        printf("%u sanitized, %u blocked, %u held, %u failed\n", counts[SAN_SANITIZED],
               counts[SAN_BLOCKED], counts[SAN_HELD], counts[SAN_FAILED]);
    json_array_unref(arr);
    if (internal)
        return EXIT_INTERNAL;
    return counts[SAN_SANITIZED] == jobs->len ? EXIT_ALL_SANITIZED : EXIT_SOME_REMOVED;
}

/* The user to name in the quarantine's audit trail. */
static const char *actor(void)
{
    const char *sudo = getenv("SUDO_USER");

    return sudo && *sudo ? sudo : g_get_user_name();
}

/* Parse the command line into o; returns the index of the first input or -1 (usage error),
 * or 0 when the program should exit successfully (help, version). */
static int parse_args(int argc, char **argv, options *o)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"no-progress", no_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int ch;

    o->progress = isatty(STDERR_FILENO);
    while ((ch = getopt_long(argc, argv, "o:c:fqh", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o->out_dir = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'P':
            o->progress = 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("sanitize-file (mugai) %s\n", MUGAI_VERSION);
            return 0;
        default:
            return -1;
        }
    }
    if (!o->out_dir) {
        fprintf(stderr, "sanitize-file: no output directory: use -o OUTDIR\n");
        return -1;
    }
    if (optind >= argc) {
        fprintf(stderr, "sanitize-file: no input files\n");
        return -1;
    }
    return optind;
}

int main(int argc, char **argv)
{
    options o = {0};
    char *err = NULL;
    GPtrArray *jobs;
    san_engine *e;
    conf *c;
    int first, rc;

    mg_log_init("sanitize-file", 0, MG_LOG_WARNING);
    if ((first = parse_args(argc, argv, &o)) <= 0) {
        if (first < 0)
            fprintf(stderr, "Try 'sanitize-file --help' for more information.\n");
        return first < 0 ? EXIT_USAGE : EXIT_ALL_SANITIZED;
    }
    if (!(c = conf_load(o.config, &err))) {
        fprintf(stderr, "sanitize-file: %s\n", err);
        free(err);
        return EXIT_USAGE;
    }
    mg_log_init("sanitize-file", 0,
                (mg_log_level)MAX(mg_log_level_parse(c->log_level), MG_LOG_WARNING));
    if (!(e = san_engine_new(c, &err))) {
        fprintf(stderr, "sanitize-file: %s\n", err);
        free(err);
        conf_free(c);
        return EXIT_USAGE;
    }
    san_engine_set_store(e, NULL, actor());
    /* Its own Office service, started at the first Office document and ended with the run. */
    if (strcmp(c->office_mode, "warm") == 0)
        san_office_autostart(o.config);
    jobs = g_ptr_array_new_with_free_func(job_free);
    if (collect(jobs, argv + first, argc - first, o.out_dir) < 0 || make_dir(o.out_dir) < 0)
        rc = EXIT_USAGE;
    else
        rc = run_all(e, c, &o, jobs);
    g_ptr_array_free(jobs, TRUE);
    san_office_stop();
    san_engine_free(e);
    conf_free(c);
    return rc;
}

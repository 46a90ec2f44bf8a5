/*
 * common/log.c - leveled logging for every mugai process.
 *
 * Runs in every process, trusted or jailed. Writes one line per event to
 * stderr or syslog. Must never log message or file content: callers pass
 * identifiers, names, sizes and reasons only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "mg.h"

static const char *log_prog = "mugai";
static int log_syslog;
static mg_log_level log_min = MG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error", "fatal", "panic"};
static const int syslog_prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_ALERT};

/* Configure the destination and threshold of later log lines. */
void mg_log_init(const char *prog, int use_syslog, mg_log_level min)
{
    log_prog = prog ? prog : "mugai";
    log_syslog = use_syslog;
    log_min = min;
    if (use_syslog)
        openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* Map a level name from the configuration to its value. */
int mg_log_level_parse(const char *name)
{
    for (int i = MG_LOG_DEBUG; i <= MG_LOG_ERROR; i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* Non-zero when lines at this level are written. */
int mg_log_enabled(mg_log_level level)
{
    return level >= log_min;
}

/* Write one formatted line at the given level. */
static void log_vwrite(mg_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void log_vwrite(mg_log_level level, const char *fmt, va_list ap)
{
    char line[1024];

    if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
        strcpy(line, "(unformattable log line)");
    if (log_syslog)
        syslog(syslog_prio[level], "%s: %s", level_names[level], line);
    else
        fprintf(stderr, "%s: %s: %s\n", log_prog, level_names[level], line);
}

void mg_log(mg_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!mg_log_enabled(level))
        return;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void mg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(MG_LOG_FATAL, fmt, ap);
    va_end(ap);
    exit(1);
}

void mg_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(MG_LOG_PANIC, fmt, ap);
    va_end(ap);
    abort();
}

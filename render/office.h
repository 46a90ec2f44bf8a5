/*
 * render/office.h - the messages between a sanitizer worker (or sanitize-file)
 * and mugai-office, the Office service.
 *
 * House rule for typed messages between processes: a fixed header (magic,
 * type, sequence number), one size per type, descriptors by SCM_RIGHTS on a
 * SOCK_SEQPACKET socket. One conversion at a time per socket: a request with
 * the input (read-only) and the file the PDF goes to, then its answer.
 */
#ifndef MUGAI_OFFICE_H
#define MUGAI_OFFICE_H

#include <stdint.h>

#define OFFICE_MAGIC 0x4f46474dU /* "MGFO" */

enum { OFFICE_CONVERT = 1, OFFICE_DONE = 2 };

/* Convert the input (first descriptor) to PDF into the second: ext is the input's extension
 * (1 to 8 letters and digits), timeout_ms the time the job still gives it (the service takes
 * the lesser of that and [jail] office_timeout). With OFFICE_SHEETS in flags (a spreadsheet)
 * a third descriptor follows: the file the sheets go to, as CSV, in the stream that
 * jail_office_convert (sanitize/san_int.h) describes. */
typedef struct office_req {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;
    uint32_t timeout_ms;
    uint32_t flags;
    char ext[12];
} office_req;

#define OFFICE_SHEETS 1u

/* How a conversion ended. */
typedef enum office_result {
    OFFICE_OK,          /* the PDF is in the output file */
    OFFICE_LOAD_FAILED, /* LibreOffice could not open the document */
    OFFICE_SAVE_FAILED, /* ... or not save it as PDF, or the PDF could not be written */
    OFFICE_TIMEOUT,     /* killed at its deadline */
    OFFICE_CRASHED,     /* killed by a signal (status), or an unknown exit */
    OFFICE_SETUP,       /* the jail could not be made */
    OFFICE_REFUSED      /* a bad request, or no child could be started */
} office_result;

/* The answer to a request of the same seq: result, the child's wait status (-1: none) and
 * CPU time, and a one-line reason (printable ASCII, NUL-terminated). */
typedef struct office_rep {
    uint32_t magic;
    uint32_t type;
    uint32_t seq;
    uint32_t result;
    int32_t status;
    uint32_t cpu_ms;
    char why[200];
} office_rep;

/* The service's exit status when LibreOfficeKit cannot be used (missing, or its start
 * failed): whoever started it converts cold from then on. */
#define OFFICE_SERVICE_UNUSABLE 3

/* Exit codes of a conversion child. */
enum {
    OFFICE_EXIT_OK = 0,
    OFFICE_EXIT_LOAD = 10,
    OFFICE_EXIT_SAVE = 11,
    OFFICE_EXIT_SETUP = 126,
    OFFICE_EXIT_SIGNAL = 128, /* + the signal that killed LibreOffice */
};

#endif

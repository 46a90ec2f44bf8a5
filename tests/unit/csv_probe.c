/*
 * tests/unit/csv_probe.c - a compromised renderer for the CSV tests: in place
 * of mugai-render (conf->render_path), it answers every conversion with the
 * input's own bytes as the converted text, formula cells and all, in a proper
 * wire-format stream. The trusted side alone must then neutralize them.
 *
 * Run only by the tests, inside the jail: stdin is the input, stdout the wire
 * format of render/rnd.h. The input must be UTF-8 (the jail checks the text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define PROBE_MAX_INPUT (1u << 20)

/* Write all of buf or exit. */
static void put(const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(1, p, len);
        if (n <= 0)
            exit(3);
        p += n;
        len -= (size_t)n;
    }
}

/* Write a four-letter tag and one little-endian 32-bit integer. */
static void frame(const char *tag, uint32_t v)
{
    uint8_t buf[8] = {(uint8_t)tag[0], (uint8_t)tag[1], (uint8_t)tag[2], (uint8_t)tag[3]};

    for (int i = 0; i < 4; i++)
        buf[4 + i] = (uint8_t)(v >> (8 * i));
    put(buf, sizeof buf);
}

/* Read the whole input, at most PROBE_MAX_INPUT bytes; its length in *len. */
static char *read_input(size_t *len)
{
    char *buf = malloc(PROBE_MAX_INPUT);
    ssize_t n;

    *len = 0;
    if (!buf)
        exit(3);
    while (*len < PROBE_MAX_INPUT && (n = read(0, buf + *len, PROBE_MAX_INPUT - *len)) > 0)
        *len += (size_t)n;
    return buf;
}

/* Send the input back as the converted text. */
int main(void)
{
    size_t len;
    char *text = read_input(&len);

    put("MGR1", 4);
    frame("TEXT", (uint32_t)len);
    put(text, len);
    frame("DONE", 0);
    free(text);
    return 0;
}

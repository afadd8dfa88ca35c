/*
 * textgen: write reproducible, text-like data for the demo, the tests
 * and the benchmarks of real programs.
 *
 * usage: textgen KIB >FILE
 *
 * Words are made of syllables from a fixed seed, drawn with a skewed
 * distribution (a few words are frequent, most are rare), in sentences
 * and lines of varying length, with a number now and then.  The
 * compressors see something close to prose: gzip -6 gets about 3:1.
 * The same KIB always gives the same bytes, on every machine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWORDS 4096

static uint64_t state = 0x2545f4914f6cdd1dull;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state >> 32;
}

int main(int argc, char **argv)
{
    static const char *const syl[] = {
        "a", "ka", "lo", "mi", "ne", "ri", "su", "to", "ver", "and",
        "est", "ion", "pre", "con", "st", "bl", "ing", "er", "ou", "th",
        "qu", "el", "ra", "dis", "com", "ple", "ty", "ge", "ma", "os",
    };
    static char words[NWORDS][24];
    static char buf[1 << 16];
    unsigned long long want, done = 0;
    char *end;
    size_t len = 0;
    int col = 0, in_sentence = 0;

    if (argc != 2 || (want = strtoull(argv[1], &end, 10)) == 0 || *end) {
        fprintf(stderr, "usage: textgen KIB >FILE\n");
        return 2;
    }
    want *= 1024;

    for (int i = 0; i < NWORDS; i++) {
        int n = 1 + next() % 4;

        for (int j = 0; j < n; j++) {
            strcat(words[i], syl[next() % (sizeof(syl) / sizeof(syl[0]))]);
        }
    }

    while (done < want) {
        char word[32];
        uint32_t r = next();
        /* Skewed: the product of two uniform picks favours low indices. */
        int i = (int)((uint64_t)(r % NWORDS) * (next() % NWORDS) / NWORDS);
        int n;

        if (r % 23 == 0) {
            n = snprintf(word, sizeof(word), "%u", next() % 100000);
        } else {
            n = snprintf(word, sizeof(word), "%s", words[i]);
        }
        if (!in_sentence) {
            word[0] -= word[0] >= 'a' && word[0] <= 'z' ? 'a' - 'A' : 0;
            in_sentence = 1;
        }
        if (r % 11 == 0) {
            word[n++] = r % 3 ? '.' : ',';
            in_sentence = word[n - 1] == ',';
        }
        if (col + n > 72) {
            buf[len++] = '\n';
            col = 0;
        } else if (col > 0) {
            buf[len++] = ' ';
            col++;
        }
        memcpy(buf + len, word, n);
        len += n;
        col += n;
        if (len > sizeof(buf) - 64) {
            size_t out = want - done < len ? want - done : len;

            if (fwrite(buf, 1, out, stdout) != out) {
                perror("textgen");
                return 1;
            }
            done += out;
            len = 0;
        }
    }
    if (fflush(stdout) != 0) {
        perror("textgen");
        return 1;
    }
    return 0;
}

/* stenod-subscribe: print the text of every final transcript the stenod daemon publishes.
 *
 * Build:  cc -O2 -Wall -o stenod-subscribe examples/subscribe.c -lzmq
 * Run:    ./stenod-subscribe [EVENTS_ENDPOINT]
 *         (default ipc://$XDG_RUNTIME_DIR/stenod/events, or ipc:///tmp/stenod-$UID/events)
 *
 * Each message on the bus is two frames: the topic, then a UTF-8 JSON object (docs/protocol.md).
 * This subscribes to "stenod.v1.transcript.final" and prints each final's "text" on its own line,
 * decoded from JSON (escapes such as \" \\ \n and \u00e9, surrogate pairs included, become UTF-8).
 * Unknown fields are skipped; ZeroMQ reconnects by itself when the daemon restarts. Ctrl-C or
 * SIGTERM ends it cleanly. An empty text (a retracted utterance) prints an empty line.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

/* A JSON text being read: the bytes and the position. */
typedef struct { const char *s; size_t n, i; } Json;

static void skip_ws(Json *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}

static int hex4(Json *j, unsigned *out) {
    unsigned v = 0;
    if (j->i + 4 > j->n) return -1;
    for (int k = 0; k < 4; k++) {
        char c = j->s[j->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* Read a JSON string at j->i (on its opening quote). With out != NULL, the decoded UTF-8 goes
 * there (it needs at most as many bytes as the encoded string) and its length to *len.
 * Returns 0, or -1 for malformed input. */
static int read_string(Json *j, char *out, size_t *len) {
    size_t o = 0;
    if (j->i >= j->n || j->s[j->i] != '"') return -1;
    j->i++;
    while (j->i < j->n) {
        char c = j->s[j->i++];
        if (c == '"') { if (len) *len = o; return 0; }
        if (c != '\\') { if (out) out[o] = c; o++; continue; }
        if (j->i >= j->n) return -1;
        char e = j->s[j->i++];
        char lit = 0;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(j, &cp)) return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair: \uD83D\uDE00 */
                if (j->i + 2 > j->n || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') return -1;
                j->i += 2;
                if (hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            char buf[4];
            size_t k = put_utf8(buf, cp);
            if (out) memcpy(out + o, buf, k);
            o += k;
            continue;
        }
        default: return -1;
        }
        if (out) out[o] = lit;
        o++;
    }
    return -1;
}

/* Skip any JSON value at j->i: strings honour escapes, so a '}' inside one is not an end. */
static int skip_value(Json *j) {
    int depth = 0;
    skip_ws(j);
    do {
        if (j->i >= j->n) return -1;
        char c = j->s[j->i];
        if (c == '"') { if (read_string(j, NULL, NULL)) return -1; }
        else if (c == '{' || c == '[') { depth++; j->i++; }
        else if (c == '}' || c == ']') { if (--depth < 0) return -1; j->i++; }
        else if (depth == 0) { /* a number, true, false or null */
            while (j->i < j->n && !strchr(",}] \t\r\n", j->s[j->i])) j->i++;
        } else j->i++;
        skip_ws(j);
    } while (depth > 0);
    return 0;
}

/* The top-level "text" string of a JSON object, decoded into a new NUL-terminated buffer
 * (free it), or NULL when the body is malformed or has no such field. */
static char *final_text(const char *body, size_t n) {
    Json j = {body, n, 0};
    char *key = malloc(n + 1), *text = NULL;
    if (!key) return NULL;
    skip_ws(&j);
    if (j.i >= n || body[j.i++] != '{') goto done;
    for (;;) {
        size_t klen;
        skip_ws(&j);
        if (j.i < n && body[j.i] == '}') goto done;
        if (read_string(&j, key, &klen)) goto done;
        skip_ws(&j);
        if (j.i >= n || body[j.i++] != ':') goto done;
        skip_ws(&j);
        if (klen == 4 && memcmp(key, "text", 4) == 0 && j.i < n && body[j.i] == '"') {
            size_t tlen;
            text = malloc(n + 1);
            if (text && read_string(&j, text, &tlen) == 0) text[tlen] = '\0';
            else { free(text); text = NULL; }
            goto done;
        }
        if (skip_value(&j)) goto done;
        skip_ws(&j);
        if (j.i < n && body[j.i] == ',') { j.i++; continue; }
        goto done;
    }
done:
    free(key);
    return text;
}

int main(int argc, char **argv) {
    char endpoint[4096];
    if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: %s [EVENTS_ENDPOINT]\nprints the text of each stenod final transcript\n"
                        "example: %s ipc://$XDG_RUNTIME_DIR/stenod/events\n", argv[0], argv[0]);
        return argc > 2 ? 2 : 0;
    }
    if (argc == 2) snprintf(endpoint, sizeof endpoint, "%s", argv[1]);
    else if (getenv("XDG_RUNTIME_DIR") && *getenv("XDG_RUNTIME_DIR"))
        snprintf(endpoint, sizeof endpoint, "ipc://%s/stenod/events", getenv("XDG_RUNTIME_DIR"));
    else snprintf(endpoint, sizeof endpoint, "ipc:///tmp/stenod-%u/events", (unsigned)getuid());

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked receive returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    /* A signal interrupts a receive only while it waits: one that lands while libzmq is busy (the
     * daemon going away, a message arriving) would leave the next receive waiting for ever. So the
     * receive gives up every 200 ms and the loop looks at stop_requested again. */
    int timeout_ms = 200;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    const char *topic = "stenod.v1.transcript.final";
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(sub, endpoint) != 0) {
        fprintf(stderr, "stenod-subscribe: cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sub);
        zmq_ctx_term(ctx);
        return 2;
    }
    int status = 0;
    while (!stop_requested) {
        zmq_msg_t frames[2];
        int count = 0, more = 1;
        while (more) { /* read one whole message; keep only the first two frames */
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, sub, 0) < 0) {
                zmq_msg_close(&part);
                for (int k = 0; k < count; k++) zmq_msg_close(&frames[k]);
                if (zmq_errno() == EAGAIN && count == 0) break; /* nothing within the timeout */
                if (zmq_errno() == EINTR || zmq_errno() == ETERM) goto out;
                fprintf(stderr, "stenod-subscribe: receive failed: %s\n", zmq_strerror(zmq_errno()));
                status = 1;
                goto out;
            }
            more = zmq_msg_more(&part);
            if (count < 2) {
                zmq_msg_init(&frames[count]);
                zmq_msg_move(&frames[count++], &part);
            }
            zmq_msg_close(&part);
        }
        if (count == 2) {
            char *text = final_text(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]));
            if (text) {
                printf("%s\n", text);
                fflush(stdout);
                free(text);
            } else {
                fprintf(stderr, "stenod-subscribe: skipping a final without a readable \"text\"\n");
            }
        }
        for (int k = 0; k < count; k++) zmq_msg_close(&frames[k]);
    }
out:
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return status;
}

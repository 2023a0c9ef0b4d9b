/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: build-time generator of the bundle's TTL from templates.
 *
 * Usage: ttlgen [-m] TEMPLATE OUTPUT. Copies TEMPLATE to OUTPUT, replacing
 * @URI@, @MINOR@ and @MICRO@ with the values of ports.h, and a line holding
 * only @PORTS@ with the lv2:port list generated from the port table, so the
 * TTL's lv2:index values are the C enum's, each port with its comment and
 * group from RNNMIDI_PORT_DOCS, and each control port with the symbol,
 * name, range, default, unit and scale points of its setting in core/engine's
 * parameter table (rnnmidi_control_desc). Lines between @IF_MODEL@ and
 * @END_IF_MODEL@ are kept only with -m (the bundle has its default model);
 * lines between @IF_MODEL NAME@ and @END_IF_MODEL@ only with -M NAME (the
 * bundle also ships NAME.rnnw; -M may be given once per model).
 * Usage in full: ttlgen [-m] [-M NAME]... TEMPLATE OUTPUT.
 * A build tool: it prints and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/engine.h"
#include "ports.h"

typedef struct {
    const char *group, *comment;
} port_doc;

static const port_doc docs[RNNMIDI_N_PORTS] = {
#define DOC(E, group, comment) [RNNMIDI_##E] = {group, comment},
    RNNMIDI_PORT_DOCS(DOC)
#undef DOC
};

/* A float port's number as an xsd:decimal or xsd:double ("2.0", not "2"), an
 * integer port's as an xsd:integer, so that hosts and lv2lint read the type
 * the port has. The shortest decimal that reads back as the same float: the
 * table's 0.95f is written 0.95, not 0.949999988. */
static void write_number(FILE *o, float v, int is_float)
{
    char buf[64];
    if (v > -1e9f && v < 1e9f && (float)(long)v == v)
        snprintf(buf, sizeof buf, "%ld", (long)v);
    else
        for (int digits = 1; digits <= 9; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
            if (strtof(buf, NULL) == v) break;
        }
    fputs(buf, o);
    if (is_float && !strpbrk(buf, ".eE")) fputs(".0", o);
}

static void write_doc(FILE *o, int index)
{
    fprintf(o, " ;\n        rdfs:comment \"%s\" ;\n        pg:group <%s#%s>", docs[index].comment,
            RNNMIDI_URI, docs[index].group);
}

/* A choice's labels, one for each whole number from min to max. */
static void write_points(FILE *o, const rnn_param_desc *d)
{
    fprintf(o, " ;\n        lv2:scalePoint");
    for (int v = (int)d->min; v <= (int)d->max; v++)
        fprintf(o, "%s [ rdfs:label \"%s\" ; rdf:value %d ]",
                v > (int)d->min ? " ,\n            " : " ", d->choices[v - (int)d->min], v);
}

static void write_ports(FILE *o)
{
    fprintf(o,
            "    lv2:port [\n"
            "        a lv2:InputPort , atom:AtomPort ;\n"
            "        atom:bufferType atom:Sequence ;\n"
            "        atom:supports midi:MidiEvent , time:Position , patch:Message ;\n"
            "        lv2:designation lv2:control ;\n"
            "        lv2:index %d ;\n"
            "        lv2:symbol \"control\" ;\n"
            "        lv2:name \"Control\" ;\n"
            "        rsz:minimumSize 65536",
            RNNMIDI_CONTROL_IN);
    write_doc(o, RNNMIDI_CONTROL_IN);
    fprintf(o,
            "\n    ] , [\n"
            "        a lv2:OutputPort , atom:AtomPort ;\n"
            "        atom:bufferType atom:Sequence ;\n"
            "        atom:supports midi:MidiEvent , patch:Message ;\n"
            "        lv2:designation lv2:control ;\n"
            "        lv2:index %d ;\n"
            "        lv2:symbol \"notify\" ;\n"
            "        lv2:name \"Notify\" ;\n"
            "        rsz:minimumSize 65536",
            RNNMIDI_NOTIFY);
    write_doc(o, RNNMIDI_NOTIFY);
    fprintf(o,
            "\n    ] , [\n"
            "        a lv2:InputPort , lv2:AudioPort ;\n"
            "        lv2:portProperty lv2:connectionOptional ;\n"
            "        lv2:index %d ;\n"
            "        lv2:symbol \"audio_in\" ;\n"
            "        lv2:name \"Audio in\"",
            RNNMIDI_AUDIO_IN);
    write_doc(o, RNNMIDI_AUDIO_IN);
    fprintf(o, "\n    ]");
    for (int index = RNNMIDI_FIRST_CONTROL; index < RNNMIDI_N_PORTS; index++) {
        const rnn_param_desc *c = rnnmidi_control_desc(index);
        fprintf(o, " , [\n        a %s , lv2:ControlPort ;\n",
                rnnmidi_control_output(index) ? "lv2:OutputPort" : "lv2:InputPort");
        fprintf(o,
                "        lv2:index %d ;\n        lv2:symbol \"%s\" ;\n        lv2:name \"%s\" ;\n",
                index, c->symbol, c->label);
        int is_float = c->kind == RNN_PARAM_REAL;
        fprintf(o, "        lv2:default ");
        write_number(o, c->def, is_float);
        fprintf(o, " ;\n        lv2:minimum ");
        write_number(o, c->min, is_float);
        fprintf(o, " ;\n        lv2:maximum ");
        write_number(o, c->max, is_float);
        if (c->kind == RNN_PARAM_INTEGER)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer");
        else if (c->kind == RNN_PARAM_CHOICE)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer , lv2:enumeration");
        else if (c->kind == RNN_PARAM_SWITCH)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer , lv2:toggled%s",
                    index == RNNMIDI_FORGET ? " , pprops:trigger" : "");
        if (c->unit[0]) fprintf(o, " ;\n        units:unit units:%s", c->unit);
        if (c->choices) write_points(o, c);
        write_doc(o, index);
        fprintf(o, "\n    ]");
    }
    fprintf(o, " .\n");
}

int main(int argc, char **argv)
{
    int with_model = 0, n_models = 0;
    const char *models[16];
    while (argc > 3) {
        if (strcmp(argv[1], "-m") == 0) {
            with_model = 1;
            argv++, argc--;
        } else if (strcmp(argv[1], "-M") == 0 && argc > 4 &&
                   n_models < (int)(sizeof models / sizeof models[0])) {
            models[n_models++] = argv[2];
            argv += 2, argc -= 2;
        } else {
            break;
        }
    }
    for (int i = 0; i < RNNMIDI_N_PORTS; i++) {
        if (!docs[i].group || !docs[i].comment || strchr(docs[i].comment, '"')) {
            fprintf(stderr,
                    "ttlgen: port %d has no comment or group in RNNMIDI_PORT_DOCS "
                    "(plugin/lv2/ports.h), or a comment with a double quote\n",
                    i);
            return 1;
        }
        const rnn_param_desc *c = rnnmidi_control_desc(i);
        int quoted = 0;
        for (int v = 0; c && c->choices && v <= (int)(c->max - c->min); v++)
            quoted |= strchr(c->choices[v], '"') != NULL;
        if (i >= RNNMIDI_FIRST_CONTROL && (!c || strchr(c->label, '"') || quoted ||
                                           (c->kind == RNN_PARAM_CHOICE) != !!c->choices)) {
            fprintf(stderr,
                    "ttlgen: control port %d has no description, a name or label with a double "
                    "quote, or a choice without labels (core/engine.c's parameter table, "
                    "plugin/lv2/ports.h)\n",
                    i);
            return 1;
        }
    }
    if (argc != 3) {
        fprintf(stderr, "usage: ttlgen [-m] [-M NAME]... TEMPLATE OUTPUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        fprintf(stderr, "ttlgen: cannot open %s\n", argv[1]);
        return 1;
    }
    FILE *o = fopen(argv[2], "w");
    if (!o) {
        fprintf(stderr, "ttlgen: cannot create %s\n", argv[2]);
        fclose(in);
        return 1;
    }
    char line[1024];
    int skip = 0;
    while (fgets(line, sizeof line, in)) {
        if (strcmp(line, "@IF_MODEL@\n") == 0) {
            skip = !with_model;
            continue;
        }
        if (strncmp(line, "@IF_MODEL ", 10) == 0) {
            size_t len = strcspn(line + 10, "@");
            skip = 1;
            for (int i = 0; i < n_models; i++)
                if (strlen(models[i]) == len && strncmp(line + 10, models[i], len) == 0) skip = 0;
            continue;
        }
        if (strcmp(line, "@END_IF_MODEL@\n") == 0) {
            skip = 0;
            continue;
        }
        if (skip) continue;
        if (strcmp(line, "@PORTS@\n") == 0) {
            write_ports(o);
            continue;
        }
        for (char *p = line; *p;) {
            if (strncmp(p, "@URI@", 5) == 0) {
                fputs(RNNMIDI_URI, o);
                p += 5;
            } else if (strncmp(p, "@MINOR@", 7) == 0) {
                fprintf(o, "%d", RNNMIDI_MINOR_VERSION);
                p += 7;
            } else if (strncmp(p, "@MICRO@", 7) == 0) {
                fprintf(o, "%d", RNNMIDI_MICRO_VERSION);
                p += 7;
            } else {
                fputc(*p++, o);
            }
        }
    }
    fclose(in);
    if (fclose(o) != 0) {
        fprintf(stderr, "ttlgen: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}

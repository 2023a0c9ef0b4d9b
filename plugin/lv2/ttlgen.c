/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: build-time generator of the bundle's TTL from templates.
 *
 * Usage: ttlgen [-m] TEMPLATE OUTPUT. Copies TEMPLATE to OUTPUT, replacing
 * @URI@, @MINOR@ and @MICRO@ with the values of ports.h, and a line holding
 * only @PORTS@ with the lv2:port list generated from the port table, so the
 * TTL's lv2:index values are the C enum's, each port with its comment and
 * group from RNNMIDI_PORT_DOCS. Lines between @IF_MODEL@ and
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
    int index;
    const char *symbol, *name;
    double def, min, max;
    int kind;
    const char *points, *unit;
} control;

static const control controls[] = {
#define ROW(E, sym, name, def, min, max, kind, param, points, unit)                                \
    {RNNMIDI_##E, sym, name, def, min, max, kind, points, unit},
    RNNMIDI_CONTROLS(ROW)
#undef ROW
};

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
 * the port has. */
static void write_number(FILE *o, double v, int is_float)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    fputs(buf, o);
    if (is_float && !strpbrk(buf, ".eE")) fputs(".0", o);
}

static void write_doc(FILE *o, int index)
{
    fprintf(o, " ;\n        rdfs:comment \"%s\" ;\n        pg:group <%s#%s>", docs[index].comment,
            RNNMIDI_URI, docs[index].group);
}

static void write_points(FILE *o, const char *points)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", points);
    fprintf(o, " ;\n        lv2:scalePoint");
    int first = 1;
    for (char *save = NULL, *tok = strtok_r(buf, "|", &save); tok;
         tok = strtok_r(NULL, "|", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        fprintf(o, "%s [ rdfs:label \"%s\" ; rdf:value %s ]", first ? " " : " ,\n            ", tok,
                eq + 1);
        first = 0;
    }
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
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        const control *c = &controls[i];
        fprintf(o, " , [\n        a lv2:InputPort , lv2:ControlPort ;\n");
        fprintf(o,
                "        lv2:index %d ;\n        lv2:symbol \"%s\" ;\n        lv2:name \"%s\" ;\n",
                c->index, c->symbol, c->name);
        int is_float = c->kind == RNNMIDI_FLOAT;
        fprintf(o, "        lv2:default ");
        write_number(o, c->def, is_float);
        fprintf(o, " ;\n        lv2:minimum ");
        write_number(o, c->min, is_float);
        fprintf(o, " ;\n        lv2:maximum ");
        write_number(o, c->max, is_float);
        if (c->kind == RNNMIDI_INT)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer");
        else if (c->kind == RNNMIDI_ENUM)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer , lv2:enumeration");
        else if (c->kind == RNNMIDI_TOGGLE)
            fprintf(o, " ;\n        lv2:portProperty lv2:integer , lv2:toggled");
        if (c->unit[0]) fprintf(o, " ;\n        units:unit units:%s", c->unit);
        if (c->points[0]) write_points(o, c->points);
        write_doc(o, c->index);
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

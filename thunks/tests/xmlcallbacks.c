/*
 * Guest handlers through expat, for the thunks: built for each guest,
 * linked with expat dynamically, run with the drop-in (and without).
 *
 * Every handler setter of expat.h gets a guest handler that writes the
 * event into a transcript (its user data): elements with namespaces,
 * character data, processing instructions, comments, CDATA, the XML
 * declaration, the DOCTYPE and its declarations (elements, attributes,
 * entities, notations), not-standalone, skipped entities, the default
 * handler, and external entity references, which the handler parses
 * with a child parser (expat called from a handler, whose handlers
 * run in turn).  Also: an unknown encoding whose handler fills in
 * XML_Encoding's convert and release (guest functions in the host's
 * structure), a guest memory suite (XML_ParserCreate_MM), parsing
 * through XML_GetBuffer and XML_ParseBuffer, a handler that suspends
 * the parse (XML_StopParser, XML_ResumeParser), and an error message.
 *
 * The program checks what it can tell by itself (the events it must
 * see, the same transcript whether the document comes in one piece or
 * through XML_GetBuffer in small pieces, the memory suite's blocks all
 * freed) and prints the transcript, which must be the same with the
 * drop-in as with the guest's own expat.  The exit status is the
 * verdict.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#include <expat.h>

/* expat 2.9.0 deprecates the line number in XML_Size for a 64-bit one. */
#if XML_MAJOR_VERSION * 10000 + XML_MINOR_VERSION * 100 + \
    XML_MICRO_VERSION >= 20900
#define LINE_NUMBER XML_GetCurrentLineNumber64
#else
#define LINE_NUMBER XML_GetCurrentLineNumber
#endif

struct log {
    char text[1 << 16];
    size_t len;
    char pending[4096];         /* character data not yet written */
    size_t pending_len;
};

static unsigned long converts, releases, mallocs, frees, defaults;

static void put(struct log *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof(l->text)) {
        fail("the transcript is too long");
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
    l->text[l->len] = 0;
}

/* Write the pending character data (pieces depend on the buffers). */
static void flush(struct log *l)
{
    if (l->pending_len) {
        put(l, "text [", 6);
        put(l, l->pending, l->pending_len);
        put(l, "]\n", 2);
        l->pending_len = 0;
    }
}

static void note(void *data, const char *fmt, ...)
{
    struct log *l = data;
    char line[1024];
    va_list ap;
    int n;

    flush(l);
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    put(l, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
    put(l, "\n", 1);
}

#define S(s) ((s) ? (s) : "-")

static void on_start(void *data, const XML_Char *name, const XML_Char **atts)
{
    note(data, "start %s", name);
    for (int i = 0; atts[i]; i += 2) {
        note(data, "  attribute %s=\"%s\"", atts[i], atts[i + 1]);
    }
}

static void on_end(void *data, const XML_Char *name)
{
    note(data, "end %s", name);
}

static void on_text(void *data, const XML_Char *s, int len)
{
    struct log *l = data;

    if (l->pending_len + len >= sizeof(l->pending)) {
        flush(l);
    }
    memcpy(l->pending + l->pending_len, s, len);
    l->pending_len += len;
}

static void on_pi(void *data, const XML_Char *target, const XML_Char *d)
{
    note(data, "pi %s [%s]", target, d);
}

static void on_comment(void *data, const XML_Char *s)
{
    note(data, "comment [%s]", s);
}

static void on_cdata_start(void *data)
{
    note(data, "cdata start");
}

static void on_cdata_end(void *data)
{
    note(data, "cdata end");
}

static void on_default(void *data, const XML_Char *s, int len)
{
    /* Whitespace and markup nothing else reported, in pieces. */
    defaults += len > 0;
}

static void on_ns_start(void *data, const XML_Char *prefix,
                        const XML_Char *uri)
{
    note(data, "namespace %s %s", S(prefix), S(uri));
}

static void on_ns_end(void *data, const XML_Char *prefix)
{
    note(data, "namespace end %s", S(prefix));
}

static void on_xmldecl(void *data, const XML_Char *version,
                       const XML_Char *encoding, int standalone)
{
    note(data, "xmldecl %s %s %d", S(version), S(encoding), standalone);
}

static void on_doctype(void *data, const XML_Char *name, const XML_Char *sys,
                       const XML_Char *pub, int internal)
{
    note(data, "doctype %s %s %s %d", name, S(sys), S(pub), internal);
}

static void on_doctype_end(void *data)
{
    note(data, "doctype end");
}

static void on_entity(void *data, const XML_Char *name, int param,
                      const XML_Char *value, int len, const XML_Char *base,
                      const XML_Char *sys, const XML_Char *pub,
                      const XML_Char *notation)
{
    note(data, "entity %s %d [%.*s] %s %s %s", name, param, value ? len : 1,
         value ? value : "-", S(sys), S(pub), S(notation));
}

static void on_unparsed(void *data, const XML_Char *name,
                        const XML_Char *base, const XML_Char *sys,
                        const XML_Char *pub, const XML_Char *notation)
{
    note(data, "unparsed %s %s %s %s", name, S(sys), S(pub), S(notation));
}

static void on_notation(void *data, const XML_Char *name,
                        const XML_Char *base, const XML_Char *sys,
                        const XML_Char *pub)
{
    note(data, "notation %s %s %s", name, S(sys), S(pub));
}

static void on_attlist(void *data, const XML_Char *el, const XML_Char *att,
                       const XML_Char *type, const XML_Char *dflt,
                       int required)
{
    note(data, "attlist %s %s %s %s %d", el, att, type, S(dflt), required);
}

static XML_Parser element_decl_parser;

static void on_element_decl(void *data, const XML_Char *name,
                            XML_Content *model)
{
    note(data, "elementdecl %s type %d quant %d children %u", name,
         model->type, model->quant, model->numchildren);
    XML_FreeContentModel(element_decl_parser, model);
}

static int on_not_standalone(void *data)
{
    note(data, "not standalone");
    return XML_STATUS_OK;
}

static void on_skipped(void *data, const XML_Char *name, int param)
{
    note(data, "skipped %s %d", name, param);
}

static const char *entity_text(const char *system)
{
    if (!strcmp(system, "ext.xml")) {
        return "<inner kind='external'>from &amp; ext.xml<?inner-pi x?>"
               "</inner>";
    }
    if (!strcmp(system, "doc.dtd")) {
        return "<!ENTITY sub 'from the external subset'>"
               "<!ELEMENT inner (#PCDATA)>";
    }
    return NULL;
}

/* Parse the external entity with a child parser, from this handler. */
static int on_external(XML_Parser parser, const XML_Char *context,
                       const XML_Char *base, const XML_Char *system,
                       const XML_Char *public)
{
    const char *text = entity_text(system);
    XML_Parser child;
    enum XML_Status status;

    /* (The context lists namespaces in an order that changes.) */
    note(XML_GetUserData(parser), "external %s %s %s",
         context ? "(context)" : "-", S(system), S(public));
    if (!text) {
        return XML_STATUS_ERROR;
    }
    child = XML_ExternalEntityParserCreate(parser, context, NULL);
    if (!child) {
        fail("XML_ExternalEntityParserCreate");
    }
    status = XML_Parse(child, text, (int)strlen(text), 1);
    if (status != XML_STATUS_OK) {
        fail("the external entity %s: %s", system,
             XML_ErrorString(XML_GetErrorCode(child)));
    }
    XML_ParserFree(child);
    return status;
}

/* "x-dlcall": ASCII, and 0x80 t (t in 0x80..0xbf) for U+03B1 + t - 0x80. */
static int convert(void *data, const char *s)
{
    unsigned char t = s[1];

    converts += *(int *)data == 42;
    return (unsigned char)s[0] == 0x80 && t >= 0x80 && t < 0xc0 ?
        0x3b1 + t - 0x80 : -1;
}

static void release(void *data)
{
    releases += *(int *)data == 42;
}

static int on_unknown_encoding(void *data, const XML_Char *name,
                               XML_Encoding *info)
{
    static int cookie = 42;

    note(data, "unknown encoding %s", name);
    if (strcmp(name, "x-dlcall")) {
        return XML_STATUS_ERROR;
    }
    for (int i = 0; i < 256; i++) {
        info->map[i] = i < 0x80 ? i : i == 0x80 ? -2 : -1;
    }
    info->data = &cookie;
    info->convert = convert;
    info->release = release;
    return XML_STATUS_OK;
}

/* Every handler; split: with the setters of one handler each. */
static void handlers(XML_Parser p, struct log *l, int split)
{
    XML_SetUserData(p, l);
    if (split) {
        XML_SetStartElementHandler(p, on_start);
        XML_SetEndElementHandler(p, on_end);
        XML_SetStartCdataSectionHandler(p, on_cdata_start);
        XML_SetEndCdataSectionHandler(p, on_cdata_end);
        XML_SetStartNamespaceDeclHandler(p, on_ns_start);
        XML_SetEndNamespaceDeclHandler(p, on_ns_end);
        XML_SetStartDoctypeDeclHandler(p, on_doctype);
        XML_SetEndDoctypeDeclHandler(p, on_doctype_end);
        XML_SetExternalEntityRefHandlerArg(p, p);
    } else {
        XML_SetElementHandler(p, on_start, on_end);
        XML_SetCdataSectionHandler(p, on_cdata_start, on_cdata_end);
        XML_SetNamespaceDeclHandler(p, on_ns_start, on_ns_end);
        XML_SetDoctypeDeclHandler(p, on_doctype, on_doctype_end);
    }
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetCommentHandler(p, on_comment);
    XML_SetDefaultHandlerExpand(p, on_default);
    XML_SetXmlDeclHandler(p, on_xmldecl);
    XML_SetEntityDeclHandler(p, on_entity);
    XML_SetUnparsedEntityDeclHandler(p, on_unparsed);
    XML_SetNotationDeclHandler(p, on_notation);
    XML_SetAttlistDeclHandler(p, on_attlist);
    XML_SetElementDeclHandler(p, on_element_decl);
    XML_SetNotStandaloneHandler(p, on_not_standalone);
    XML_SetSkippedEntityHandler(p, on_skipped);
    XML_SetExternalEntityRefHandler(p, on_external);
    XML_SetUnknownEncodingHandler(p, on_unknown_encoding, l);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_UNLESS_STANDALONE);
    element_decl_parser = p;
}

static const char doc[] =
    "<?xml version='1.0' encoding='UTF-8' standalone='no'?>\n"
    "<!DOCTYPE a:doc SYSTEM 'doc.dtd' [\n"
    "  <!ELEMENT a:doc (item*, b:empty?)>\n"
    "  <!ATTLIST a:doc a:kind CDATA 'plain' id ID #IMPLIED>\n"
    "  <!ENTITY int 'internal &amp; expanded'>\n"
    "  <!ENTITY ext SYSTEM 'ext.xml'>\n"
    "  <!NOTATION gif SYSTEM 'image/gif'>\n"
    "  <!ENTITY pic SYSTEM 'pic.gif' NDATA gif>\n"
    "]>\n"
    "<!-- before the root -->\n"
    "<a:doc xmlns:a='urn:dlcall:a' xmlns:b='urn:dlcall:b' id='d1'>\n"
    "  <item n='1'>caf\xc3\xa9 &int; &#x263A; &lt;ok&gt;</item>\n"
    "  <item n='2'><![CDATA[ <not> &markup; ]]></item>\n"
    "  <?dlcall-pi some data?>\n"
    "  <item n='3'>&ext; and &sub;</item>\n"
    "  <b:empty b:x='y'/>\n"
    "</a:doc>\n";

static const char skipping[] =
    "<!DOCTYPE d SYSTEM 'unread.dtd'><d>&skip;</d>";

static const char encoded[] =
    "<?xml version='1.0' encoding='x-dlcall'?><d>greek \x80\x80\x80\x81</d>";

/* Parse text with parser p: whole, or through XML_GetBuffer in pieces. */
static void parse(XML_Parser p, struct log *l, const char *text, size_t len,
                  size_t piece)
{
    enum XML_Status status = XML_STATUS_OK;

    if (!piece) {
        status = XML_Parse(p, text, (int)len, 1);
    }
    for (size_t at = 0; piece && at < len && status != XML_STATUS_ERROR;) {
        size_t n = len - at < piece ? len - at : piece;
        void *buf = XML_GetBuffer(p, (int)n);

        if (!buf) {
            fail("XML_GetBuffer");
        }
        memcpy(buf, text + at, n);
        at += n;
        status = XML_ParseBuffer(p, (int)n, at == len);
    }
    while (status == XML_STATUS_SUSPENDED) {
        note(l, "resume");
        status = XML_ResumeParser(p);
    }
    if (status != XML_STATUS_OK) {
        fail("line %llu: %s", (unsigned long long)LINE_NUMBER(p),
             XML_ErrorString(XML_GetErrorCode(p)));
    }
    flush(l);
}

/* The handler that suspends: on the first start tag after the DTD. */
static void suspending_start(void *data, const XML_Char *name,
                             const XML_Char **atts)
{
    on_start(data, name, atts);
    if (!strcmp(name, "urn:dlcall:a|doc")) {
        XML_StopParser(element_decl_parser, XML_TRUE);
    }
}

static void *count_malloc(size_t size)
{
    mallocs++;
    return malloc(size);
}

static void *count_realloc(void *p, size_t size)
{
    mallocs += !p;
    return realloc(p, size);
}

static void count_free(void *p)
{
    frees += p != NULL;
    free(p);
}

static struct log whole, pieces, suspended, other;

int main(void)
{
    static const char *const must[] = {
        "xmldecl 1.0 UTF-8 0", "doctype a:doc doc.dtd - 1",
        "elementdecl a:doc type 6", "attlist a:doc a:kind CDATA plain 0",
        "entity int 0 [internal &amp; expanded]", "notation gif image/gif",
        "unparsed pic pic.gif - gif", "not standalone",
        "external - doc.dtd -", "entity sub 0 [from the external subset]",
        "comment [ before the root ]", "namespace a urn:dlcall:a",
        "start urn:dlcall:a|doc", "  attribute id=\"d1\"",
        "text [caf\xc3\xa9 internal & expanded \xe2\x98\xba <ok>]",
        "cdata start\ntext [ <not> &markup; ]\ncdata end",
        "pi dlcall-pi [some data]", "external (context) ext.xml -",
        "start inner", "text [from & ext.xml]", "pi inner-pi [x]",
        "text [ and from the external subset]",
        "start urn:dlcall:b|empty", "namespace end b",
    };
    static const XML_Memory_Handling_Suite suite = {
        count_malloc, count_realloc, count_free,
    };
    const XML_Feature *f;
    XML_Parser p;

    /* The document in one piece, with the guest's memory suite. */
    p = XML_ParserCreate_MM("UTF-8", &suite, "|");
    handlers(p, &whole, 0);
    parse(p, &whole, doc, sizeof(doc) - 1, 0);
    XML_ParserFree(p);
    if (!mallocs || mallocs != frees) {
        fail("memory suite: %lu blocks, %lu freed", mallocs, frees);
    }
    for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
        if (!strstr(whole.text, must[i])) {
            fail("no \"%s\" in the transcript:\n%s", must[i], whole.text);
        }
    }

    /* The same in pieces through XML_GetBuffer, and suspended once. */
    p = XML_ParserCreateNS(NULL, '|');
    handlers(p, &pieces, 1);
    parse(p, &pieces, doc, sizeof(doc) - 1, 37);
    XML_ParserFree(p);
    p = XML_ParserCreateNS(NULL, '|');
    handlers(p, &suspended, 0);
    XML_SetStartElementHandler(p, suspending_start);
    parse(p, &suspended, doc, sizeof(doc) - 1, 0);
    XML_ParserFree(p);
    if (strcmp(whole.text, pieces.text)) {
        fail("the transcripts of the document whole and in pieces differ:"
             "\n%s\n----\n%s", whole.text, pieces.text);
    }
    if (!strstr(suspended.text, "start urn:dlcall:a|doc\n  attribute "
                "id=\"d1\"\n  attribute urn:dlcall:a|kind=\"plain\"\n"
                "resume\n")) {
        fail("no suspension:\n%s", suspended.text);
    }

    /* A skipped entity, an unknown encoding, an error. */
    p = XML_ParserCreate(NULL);
    handlers(p, &other, 0);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    parse(p, &other, skipping, sizeof(skipping) - 1, 0);
    XML_ParserFree(p);
    p = XML_ParserCreate(NULL);
    handlers(p, &other, 1);
    parse(p, &other, encoded, sizeof(encoded) - 1, 0);
    XML_ParserFree(p);
    p = XML_ParserCreate(NULL);
    XML_SetDefaultHandler(p, on_default);
    defaults = 0;
    parse(p, &other, skipping, sizeof(skipping) - 1, 0);
    XML_ParserFree(p);
    if (!strstr(other.text, "skipped skip 0") ||
        !strstr(other.text, "text [greek \xce\xb1\xce\xb2]") ||
        !converts || releases != 1 || !defaults) {
        fail("skipped entity, unknown encoding or default handler (%lu "
             "converts, %lu releases, %lu defaults):\n%s", converts,
             releases, defaults, other.text);
    }
    p = XML_ParserCreate(NULL);
    if (XML_Parse(p, "<a><b></a>", 10, 1) != XML_STATUS_ERROR ||
        strcmp(XML_ErrorString(XML_GetErrorCode(p)), "mismatched tag")) {
        fail("no \"mismatched tag\" error");
    }
    XML_ParserFree(p);

    fputs(whole.text, stdout);
    fputs(suspended.text, stdout);
    fputs(other.text, stdout);
    /* (Features differ between builds: the host's is not the guest's.) */
    for (f = XML_GetFeatureList(); strcmp(f->name, "XML_NS"); f++) {
        if (f->feature == XML_FEATURE_END) {
            fail("XML_GetFeatureList has no XML_NS");
        }
    }
    printf("xmlcallbacks: all passed (%s)\n", XML_ExpatVersion());
    return 0;
}

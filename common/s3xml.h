/* s3xml.h — a small, strict, bounded XML extractor for S3 responses.
 *
 * S3 answers are short, flat XML documents read from the network, so this is
 * not a general XML parser: it walks the bytes once and, at the end of every
 * element, hands the caller the element's slash-joined path
 * ("ListBucketResult/Contents/Key") and its decoded text.  It refuses what S3
 * never sends and an attacker might: DOCTYPE/ENTITY declarations (no entity
 * expansion at all), unknown entities, mismatched or unclosed tags, text mixed
 * with child elements, more than one root, nesting deeper than
 * S3XML_MAX_DEPTH, paths longer than S3XML_MAX_PATH, element text longer than
 * S3XML_MAX_TEXT.  No allocation beyond one bounded text buffer; reentrant.
 */
#ifndef LOGFLEET_S3XML_H
#define LOGFLEET_S3XML_H

#include <stddef.h>

#include "common/err.h"

#define S3XML_MAX_DEPTH 16
#define S3XML_MAX_PATH 512
#define S3XML_MAX_TEXT (64 * 1024)

/* Called at every element end.  text is the decoded, NUL-terminated content
 * of a leaf element ("" for an element with children or an empty one); leaf
 * is 1 when the element had no child elements.  A non-zero return stops the
 * parse and is returned by s3xml_parse. */
typedef int (*s3xml_cb)(void *ctx, const char *path, const char *text, size_t len,
                        int leaf);

/* Parses doc[0..len); 0 on success, -EBADMSG (e filled, PERMANENT) on a
 * malformed or over-limit document, or the callback's non-zero return. */
int s3xml_parse(const char *doc, size_t len, s3xml_cb cb, void *ctx, struct err *e);

/* Copies the text of the first element at path into out[outsz]; 1 if found,
 * 0 if not, negative if the document is malformed or the text does not fit. */
int s3xml_find(const char *doc, size_t len, const char *path, char *out, size_t outsz,
               struct err *e);

#endif

// Package wire is Switchyard's codec of the OpenAI wire format: everything that reads or writes
// the bytes of a chat or embeddings request, an upstream's answer or a stream chunk, without
// decoding what passes through.
//
// What it guarantees:
//
//   - ParseRequest accepts exactly the bodies encoding/json accepts as one object, and a body it
//     accepts reads the same to every JSON decoder in the fields the gateway acts on: a field it
//     reads given twice, or in a spelling some decoder takes for it ("Model", "ſtream", a key cut
//     by a NUL), is refused, so the model a key is authorised for is the model the upstream serves.
//     CheckFields applies the same rule to the corpus API's bodies. UpstreamBody changes only
//     "model" (and stream_options.include_usage when asked); every other byte is the client's.
//   - ScanAnswer finds the members of an answer or chunk (model, usage) in one pass, leniently,
//     without decoding values; TokenCounts reads a usage object.
//   - EmbeddingLengths counts each vector of an embeddings answer (lists of numbers by their
//     commas, base64 by its length) without decoding a float, and refuses a truncated or malformed
//     answer: 16 vectors of 768 floats in well under a millisecond.
//   - DecodeEmbeddings decodes an embeddings answer into float32 vectors, base64 or lists of
//     numbers, with one base64 decoder that gives the same floats on every byte order.
//
// Nesting is bounded (256 levels), so no input makes a scan recurse without limit. The fuzz targets
// FuzzParseRequest, FuzzEmbeddingLengths and FuzzDecodeEmbeddings hold each guarantee against
// encoding/json.
package wire

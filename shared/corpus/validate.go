package corpus

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// FieldError is invalid input naming the field at fault, in the JSON path form SPEC's param uses.
type FieldError struct {
	Param   string
	Message string
}

func (e *FieldError) Error() string { return e.Param + ": " + e.Message }

// ValidateDocuments checks a batch for PUT: 1 to MaxBatch documents, each with an id, a text and
// metadata within the limits, ids unique within the batch.
func ValidateDocuments(docs []Document) error {
	if len(docs) == 0 {
		return &FieldError{"documents", "give at least one document"}
	}
	if len(docs) > MaxBatch {
		return &FieldError{"documents", fmt.Sprintf("%d documents in one batch; send at most %d at a time", len(docs), MaxBatch)}
	}
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		p := fmt.Sprintf("documents[%d]", i)
		if err := ValidateDocumentID(d.ID); err != nil {
			return &FieldError{p + ".id", err.Error()}
		}
		if j, dup := seen[d.ID]; dup {
			return &FieldError{p + ".id", fmt.Sprintf("id %q appears twice in the batch (also at documents[%d])", d.ID, j)}
		}
		seen[d.ID] = i
		if d.Text == "" {
			return &FieldError{p + ".text", "a document needs a non-empty text"}
		}
		if len(d.Text) > MaxTextBytes {
			return &FieldError{p + ".text", fmt.Sprintf("text of %d bytes; at most %d", len(d.Text), MaxTextBytes)}
		}
		if !utf8.ValidString(d.Text) {
			return &FieldError{p + ".text", "text is not valid UTF-8"}
		}
		if len(d.Metadata) > 0 {
			// Measured as stored: the JSON encoding. Metadata is returned with every hit, so its size
			// is bounded as the text's is.
			b, err := json.Marshal(d.Metadata)
			if err != nil {
				return &FieldError{p + ".metadata", fmt.Sprintf("metadata cannot be stored as JSON: %v", err)}
			}
			if len(b) > MaxMetadataBytes {
				return &FieldError{p + ".metadata", fmt.Sprintf("metadata of %d bytes (as JSON); at most %d", len(b), MaxMetadataBytes)}
			}
		}
	}
	return nil
}

// ValidateDocumentID checks a document id: 1 to MaxIDLength bytes of UTF-8 without control characters.
func ValidateDocumentID(id string) error {
	if id == "" {
		return fmt.Errorf("a document needs an id")
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("id of %d bytes; at most %d", len(id), MaxIDLength)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("id is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("id contains a control character")
		}
	}
	return nil
}

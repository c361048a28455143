package corpus

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// Which states are live and which are ends decides which indexes a write reaches and when a run stops:
// every state is in exactly the set SPEC gives it.
func TestStates(t *testing.T) {
	indexes := []struct {
		s    IndexState
		live bool
	}{
		{IndexBuilding, true},
		{IndexVerifying, true},
		{IndexActive, true},
		{IndexStandby, true},
		{IndexRetired, false},
		{IndexFailed, false},
		{IndexState("unknown"), false},
	}
	var live []string
	for _, tt := range indexes {
		if got := tt.s.Live(); got != tt.live {
			t.Errorf("index state %q: Live() = %v, want %v", tt.s, got, tt.live)
		}
		if tt.live {
			live = append(live, string(tt.s))
		}
	}
	if strings.Join(LiveStates, ",") != strings.Join(live, ",") {
		t.Errorf("LiveStates = %v; the states Live() accepts are %v", LiveStates, live)
	}

	runs := []struct {
		s        RunState
		terminal bool
	}{
		{RunQueued, false},
		{RunEmbedding, false},
		{RunIndexing, false},
		{RunVerifying, false},
		{RunCuttingOver, false},
		{RunSucceeded, true},
		{RunFailed, true},
		{RunCancelled, true},
	}
	for _, tt := range runs {
		if got := tt.s.Terminal(); got != tt.terminal {
			t.Errorf("run state %q: Terminal() = %v, want %v", tt.s, got, tt.terminal)
		}
	}
}

func TestCanUse(t *testing.T) {
	granted := map[string]bool{"search": true}
	tests := []struct {
		name string
		c    Corpus
		team string
		want bool
	}{
		{"follows the alias's grants: granted", Corpus{}, "search", true},
		{"follows the alias's grants: not granted", Corpus{}, "other", false},
		{"explicit teams: listed", Corpus{TeamsExplicit: true, Teams: []string{"other", "third"}}, "third", true},
		{"explicit teams: granted the alias but not listed", Corpus{TeamsExplicit: true, Teams: []string{"other"}}, "search", false},
		{"explicit and empty: nobody", Corpus{TeamsExplicit: true}, "search", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.CanUse(tt.team, granted); got != tt.want {
				t.Errorf("CanUse(%q) = %v, want %v", tt.team, got, tt.want)
			}
		})
	}
}

func TestColumnType(t *testing.T) {
	tests := []struct {
		dim     int
		want    string
		half    bool
		wantErr string
	}{
		{0, "", false, "at least 1"},
		{-3, "", false, "at least 1"},
		{1, "vector(1)", false, ""},
		{384, "vector(384)", false, ""},
		{MaxVectorDims, "vector(2000)", false, ""},
		{MaxVectorDims + 1, "halfvec(2001)", true, ""},
		{3072, "halfvec(3072)", true, ""},
		{MaxHalfvecDims, "halfvec(4000)", true, ""},
		{MaxHalfvecDims + 1, "", true, "at most 4000"},
	}
	for _, tt := range tests {
		got, err := ColumnType(tt.dim)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ColumnType(%d) = %q, %v; want an error saying %q", tt.dim, got, err, tt.wantErr)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("ColumnType(%d) = %q, %v; want %q", tt.dim, got, err, tt.want)
		}
		if tt.dim > 0 && Half(tt.dim) != tt.half {
			t.Errorf("Half(%d) = %v, want %v", tt.dim, Half(tt.dim), tt.half)
		}
	}
}

func TestCheckDimensions(t *testing.T) {
	v := func(n int) []float32 { return make([]float32, n) }
	tests := []struct {
		name    string
		vecs    [][]float32
		dim     int
		wantErr *DimensionError
	}{
		{"none", nil, 3, nil},
		{"all right", [][]float32{v(3), v(3)}, 3, nil},
		{"second short", [][]float32{v(3), v(2), v(4)}, 3, &DimensionError{Index: 1, Got: 2, Want: 3}},
		{"first long", [][]float32{v(4)}, 3, &DimensionError{Index: 0, Got: 4, Want: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDimensions(tt.vecs, tt.dim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckDimensions: %v", err)
				}
				return
			}
			var de *DimensionError
			if !errors.As(err, &de) || *de != *tt.wantErr {
				t.Fatalf("CheckDimensions = %#v, want %#v", err, tt.wantErr)
			}
		})
	}
}

// A wrong dimension's message names the model when known, what came back and what the catalogue
// says, and what to do.
func TestDimensionErrorMessage(t *testing.T) {
	tests := []struct {
		e    DimensionError
		want []string
	}{
		{DimensionError{Model: "embed-v2", Index: 4, Got: 768, Want: 1024},
			[]string{"model embed-v2", "768 dimensions", "input 4", "records 1024", "start a new run"}},
		{DimensionError{Index: 0, Got: 1, Want: 2}, []string{"the model returned", "1 dimensions", "records 2"}},
	}
	for _, tt := range tests {
		msg := tt.e.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q does not say %q", msg, w)
			}
		}
	}
}

func TestTableNameAndContentHash(t *testing.T) {
	if got := TableName(7, 42); got != "corpus_vec_7_42" {
		t.Errorf("TableName(7, 42) = %q", got)
	}
	a, b := ContentHash("hello"), ContentHash("hello")
	if len(a) != 32 || string(a) != string(b) {
		t.Errorf("ContentHash is not a stable SHA-256: %x, %x", a, b)
	}
	if string(ContentHash("hello")) == string(ContentHash("hello ")) {
		t.Error("two texts share a content hash")
	}
}

func TestValidateDocuments(t *testing.T) {
	doc := func(id string) Document { return Document{ID: id, Text: "text of " + id} }
	many := make([]Document, MaxBatch+1)
	for i := range many {
		many[i] = doc(fmt.Sprintf("doc-%d", i))
	}
	bigMeta := map[string]any{"blob": strings.Repeat("m", MaxMetadataBytes)}
	tests := []struct {
		name      string
		docs      []Document
		wantParam string // "" for valid
		wantMsg   string
	}{
		{"one document", []Document{doc("a")}, "", ""},
		{"a full batch", many[:MaxBatch], "", ""},
		{"metadata within the limit", []Document{{ID: "a", Text: "t", Metadata: map[string]any{"n": 1}}}, "", ""},
		{"text at the limit", []Document{{ID: "a", Text: strings.Repeat("t", MaxTextBytes)}}, "", ""},
		{"id at the limit", []Document{{ID: strings.Repeat("i", MaxIDLength), Text: "t"}}, "", ""},
		{"no documents", nil, "documents", "at least one"},
		{"too many", many, "documents", "at most 1000"},
		{"no id", []Document{doc("a"), {Text: "t"}}, "documents[1].id", "needs an id"},
		{"id too long", []Document{{ID: strings.Repeat("i", MaxIDLength+1), Text: "t"}}, "documents[0].id", "at most 512"},
		{"id not UTF-8", []Document{{ID: "a\xff", Text: "t"}}, "documents[0].id", "UTF-8"},
		{"id with a newline", []Document{{ID: "a\nb", Text: "t"}}, "documents[0].id", "control character"},
		{"id with DEL", []Document{{ID: "a\x7f", Text: "t"}}, "documents[0].id", "control character"},
		{"duplicate id", []Document{doc("a"), doc("b"), doc("a")}, "documents[2].id", "also at documents[0]"},
		{"empty text", []Document{{ID: "a"}}, "documents[0].text", "non-empty text"},
		{"text too long", []Document{{ID: "a", Text: strings.Repeat("t", MaxTextBytes+1)}}, "documents[0].text", "at most 65536"},
		{"text not UTF-8", []Document{{ID: "a", Text: "\xc3"}}, "documents[0].text", "UTF-8"},
		{"metadata too large", []Document{{ID: "a", Text: "t", Metadata: bigMeta}}, "documents[0].metadata", "at most 16384"},
		{"metadata not JSON", []Document{{ID: "a", Text: "t", Metadata: map[string]any{"f": math.Inf(1)}}}, "documents[0].metadata", "cannot be stored as JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDocuments(tt.docs)
			if tt.wantParam == "" {
				if err != nil {
					t.Fatalf("ValidateDocuments: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ValidateDocuments = %v; want a FieldError on %s", err, tt.wantParam)
			}
			if fe.Param != tt.wantParam || !strings.Contains(fe.Message, tt.wantMsg) {
				t.Fatalf("FieldError{%q, %q}; want param %q, a message saying %q", fe.Param, fe.Message, tt.wantParam, tt.wantMsg)
			}
			if fe.Error() != fe.Param+": "+fe.Message {
				t.Fatalf("Error() = %q", fe.Error())
			}
		})
	}
}

// The verdict: every document has exactly one vector of the right dimension, no vector is left over,
// and self-recall reaches the threshold; the first failed rule is the reason given.
func TestJudge(t *testing.T) {
	ok := Verification{Documents: 100, Vectors: 100, Sampled: 50, Found: 50}
	with := func(f func(*Verification)) Verification { v := ok; f(&v); return v }
	tests := []struct {
		name       string
		v          Verification
		threshold  float64
		passed     bool
		reason     string
		selfRecall float64
	}{
		{"all there", ok, 0.95, true, "", 1},
		{"nothing sampled counts as full recall", with(func(v *Verification) { v.Sampled, v.Found = 0, 0 }), 0.95, true, "", 1},
		{"empty corpus", Verification{}, 0.95, true, "", 1},
		{"recall at the threshold", with(func(v *Verification) { v.Sampled, v.Found = 200, 190 }), 0.95, true, "", 0.95},
		{"recall rounded to three places", with(func(v *Verification) { v.Sampled, v.Found = 3, 2 }), 0.5, true, "", 0.667},
		{"recall below", with(func(v *Verification) { v.Sampled, v.Found = 200, 189 }), 0.95, false, "self-recall below the threshold", 0.945},
		{"missing", with(func(v *Verification) { v.Missing, v.Vectors = 1, 99 }), 0.95, false, "documents without a vector", 1},
		{"duplicates", with(func(v *Verification) { v.Duplicates, v.Vectors = 1, 101 }), 0.95, false, "more than one vector", 1},
		{"wrong dimension", with(func(v *Verification) { v.WrongDimension = 2 }), 0.95, false, "wrong dimension", 1},
		{"left-over vectors", with(func(v *Verification) { v.Vectors = 101 }), 0.95, false, "no longer exist", 1},
		{"missing comes first", with(func(v *Verification) { v.Missing, v.Duplicates, v.Found = 1, 1, 0 }), 0.95, false, "documents without a vector", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.v
			v.Reason = "stale reason from an earlier judgement"
			v.Judge(tt.threshold)
			if v.Passed != tt.passed || !strings.Contains(v.Reason, tt.reason) || (tt.passed && v.Reason != "") {
				t.Errorf("Judge: passed %v reason %q; want passed %v reason %q", v.Passed, v.Reason, tt.passed, tt.reason)
			}
			if v.SelfRecall != tt.selfRecall || v.Threshold != tt.threshold || v.RecallK != RecallK {
				t.Errorf("Judge: self-recall %v threshold %v k %d; want %v %v %d", v.SelfRecall, v.Threshold, v.RecallK, tt.selfRecall, tt.threshold, RecallK)
			}
		})
	}
}

// A run's verdict is over all its indexes: Add sums every count, so one bad index fails the run.
func TestVerificationAdd(t *testing.T) {
	var total Verification
	total.Add(Verification{Documents: 10, Vectors: 10, Sampled: 5, Found: 5})
	total.Add(Verification{Documents: 20, Vectors: 19, Missing: 1, Duplicates: 2, WrongDimension: 3, Sampled: 5, Found: 4})
	want := Verification{Documents: 30, Vectors: 29, Missing: 1, Duplicates: 2, WrongDimension: 3, Sampled: 10, Found: 9}
	if total != want {
		t.Fatalf("sum %+v, want %+v", total, want)
	}
	total.Judge(0.5)
	if total.Passed || total.Reason != "documents without a vector" {
		t.Fatalf("a run with one bad index: passed %v, %q", total.Passed, total.Reason)
	}
}

func TestProgress(t *testing.T) {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Second)
	finished := start.Add(20 * time.Second)
	f := func(x float64) *float64 { return &x }
	tests := []struct {
		name      string
		r         Run
		rate, eta *float64
	}{
		{"not started", Run{State: RunQueued, Total: 100}, nil, nil},
		{"nothing embedded yet", Run{State: RunEmbedding, Total: 100, StartedAt: &start}, nil, nil},
		{"embedding", Run{State: RunEmbedding, Total: 100, Embedded: 25, StartedAt: &start}, f(2.5), f(30)},
		{"eta rounds up", Run{State: RunEmbedding, Total: 100, Embedded: 30, StartedAt: &start}, f(3), f(24)},
		{"more embedded than counted", Run{State: RunEmbedding, Total: 100, Embedded: 120, StartedAt: &start}, f(12), f(0)},
		{"indexing: nothing left to embed", Run{State: RunIndexing, Total: 100, Embedded: 100, StartedAt: &start}, f(10), f(0)},
		{"finished: rate over the whole run", Run{State: RunSucceeded, Total: 100, Embedded: 100, StartedAt: &start, FinishedAt: &finished}, f(5), f(0)},
		{"clock behind the start", Run{State: RunEmbedding, Total: 100, Embedded: 5, StartedAt: &finished}, nil, nil},
	}
	eq := func(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	show := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, eta := tt.r.Progress(now)
			if !eq(rate, tt.rate) || !eq(eta, tt.eta) {
				t.Errorf("Progress = rate %v eta %v; want %v %v", show(rate), show(eta), show(tt.rate), show(tt.eta))
			}
		})
	}
}

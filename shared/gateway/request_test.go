package gateway

import "testing"

func TestSplice(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		start, end int
		text       string
		room       int // spare capacity past len(in)
		want       string
	}{
		{name: "shorter, in the middle", in: `{"model":"upstream-name","x":1}`, start: 9, end: 24, text: `"m"`, want: `{"model":"m","x":1}`},
		{name: "longer, with room", in: `{"model":"u","x":1}`, start: 9, end: 12, text: `"pinned-v1"`, room: 64, want: `{"model":"pinned-v1","x":1}`},
		{name: "longer, without room", in: `{"model":"u","x":1}`, start: 9, end: 12, text: `"pinned-v1"`, want: `{"model":"pinned-v1","x":1}`},
		{name: "same length", in: `{"model":"abc"}`, start: 9, end: 14, text: `"xyz"`, want: `{"model":"xyz"}`},
		{name: "at the end", in: `abcdef`, start: 4, end: 6, text: `XYZ`, room: 8, want: `abcdXYZ`},
		{name: "at the start", in: `abcdef`, start: 0, end: 2, text: `Z`, want: `Zcdef`},
		{name: "removing", in: `abcdef`, start: 1, end: 5, text: ``, want: `af`},
	}
	for _, tt := range tests {
		b := append(make([]byte, 0, len(tt.in)+tt.room), tt.in...)
		if got := string(splice(b, tt.start, tt.end, []byte(tt.text))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeBaseURL(t *testing.T) {
	tests := []struct {
		raw       string
		want      string
		corrected string // when a *DoubledRouteError is expected
		errHas    string // when another error is expected
	}{
		{raw: "https://models.example/v1", want: "https://models.example/v1"},
		{raw: "  https://models.example/v1/  ", want: "https://models.example/v1"},
		{raw: "HTTPS://Models.Example:8443/v1//", want: "https://models.example:8443/v1"},
		{raw: "http://10.0.0.5:8000", want: "http://10.0.0.5:8000"},
		{raw: "http://10.0.0.5:8000/", want: "http://10.0.0.5:8000"},
		{raw: "http://[fd12::1]:8000/openai/v1", want: "http://[fd12::1]:8000/openai/v1"},
		{raw: "https://h/v1/chat/completions", corrected: "https://h/v1"},
		{raw: "https://h/v1/chat/completions/", corrected: "https://h/v1"},
		{raw: "https://h/v1/completions", corrected: "https://h/v1"},
		{raw: "https://h/v1/embeddings", corrected: "https://h/v1"},
		{raw: "https://h/v1/models", corrected: "https://h/v1"},
		{raw: "https://h/v1/v1", corrected: "https://h/v1"},
		{raw: "https://h/api/v1/v1/embeddings", corrected: "https://h/api/v1"},
		{raw: "https://h/v1/v1/v1/chat/completions", corrected: "https://h/v1"},
		{raw: "", errHas: "required"},
		{raw: "models.example/v1", errHas: "http:// or https://"},
		{raw: "ftp://h/v1", errHas: "http:// or https://"},
		{raw: "https:///v1", errHas: "no host"},
		{raw: "https://user:pw@h/v1", errHas: "user info"},
		{raw: "https://h/v1?api-version=1", errHas: "query"},
		{raw: "https://h/v1?", errHas: "query"},
		{raw: "https://h/v1#x", errHas: "fragment"},
		{raw: "https://h/v1\n", want: "https://h/v1"},
		{raw: "https://h /v1", errHas: "does not parse"},
	}
	for _, tt := range tests {
		got, err := NormalizeBaseURL(tt.raw)
		var dr *DoubledRouteError
		switch {
		case tt.corrected != "":
			if !errors.As(err, &dr) {
				t.Errorf("NormalizeBaseURL(%q) = %q, %v; want a DoubledRouteError", tt.raw, got, err)
				continue
			}
			if dr.Corrected != tt.corrected || !strings.Contains(err.Error(), tt.corrected) {
				t.Errorf("NormalizeBaseURL(%q): corrected %q (message %q), want %q", tt.raw, dr.Corrected, err, tt.corrected)
			}
		case tt.errHas != "":
			if err == nil || errors.As(err, &dr) || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("NormalizeBaseURL(%q) = %q, %v; want an error mentioning %q", tt.raw, got, err, tt.errHas)
			}
		default:
			if err != nil || got != tt.want {
				t.Errorf("NormalizeBaseURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
		}
	}
}

func TestNormalizeCredential(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		trimmed bool
		bad     bool
	}{
		{raw: "sk-abc", want: "sk-abc"},
		{raw: " sk-abc", want: "sk-abc", trimmed: true},
		{raw: "sk-abc\n", want: "sk-abc", trimmed: true},
		{raw: "\tsk-abc \r\n", want: "sk-abc", trimmed: true},
		{raw: "sk-a bc", want: "sk-a bc"}, // an inner space is odd but sendable
		{raw: "sk-a\nbc", bad: true},
		{raw: "sk-a\rbc", bad: true},
		{raw: "sk-a\x00bc", bad: true},
		{raw: "sk-a\x7fbc", bad: true},
		{raw: "", want: ""},
	}
	for _, tt := range tests {
		got, trimmed, err := NormalizeCredential(tt.raw)
		if tt.bad {
			if err == nil {
				t.Errorf("NormalizeCredential(%q) accepted it; want an error", tt.raw)
			}
			continue
		}
		if err != nil || got != tt.want || trimmed != tt.trimmed {
			t.Errorf("NormalizeCredential(%q) = %q, %v, %v; want %q, %v", tt.raw, got, trimmed, err, tt.want, tt.trimmed)
		}
	}
}

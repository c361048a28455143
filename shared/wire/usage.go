package wire

import "strconv"

// TokenCounts reads prompt_tokens, completion_tokens and total_tokens from a usage object; absent
// or malformed counts are zero.
func TokenCounts(b []byte) (prompt, completion, total int64) {
	_, _ = scanObject(b, 0, false, func(m Member) bool {
		v := b[m.ValStart:m.ValEnd]
		switch string(m.Key) {
		case "prompt_tokens":
			prompt = parseCount(v)
		case "completion_tokens":
			completion = parseCount(v)
		case "total_tokens":
			total = parseCount(v)
		}
		return true
	})
	if total == 0 {
		total = prompt + completion
	}
	return prompt, completion, total
}

func parseCount(v []byte) int64 {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

package gateway

import (
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/switchyard-ai/switchyard/shared/apierror"
)

// buffer is a pooled byte slice: request bodies, upstream answers and rewritten bodies reuse
// memory instead of growing new slices per request.
type buffer struct{ b []byte }

var buffers = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 32<<10)} }}

// maxPooled keeps a rare huge answer from pinning its memory in the pool.
const maxPooled = 4 << 20

func getBuffer(size int) *buffer {
	buf := buffers.Get().(*buffer)
	if cap(buf.b) < size {
		buf.b = make([]byte, 0, size)
	}
	buf.b = buf.b[:0]
	return buf
}

func putBuffer(buf *buffer) {
	if buf == nil || cap(buf.b) > maxPooled {
		return
	}
	buf.b = buf.b[:0]
	buffers.Put(buf)
}

var errTooLarge = errors.New("body too large")

// readSlack is room past an announced length: one byte so that the final read sees EOF without
// growing the buffer, and room for a longer "model" spliced in place.
const readSlack = 512

// readAll reads r into buf, failing with errTooLarge past limit bytes. sizeHint is the announced
// Content-Length (or -1).
func readAll(r io.Reader, buf *buffer, sizeHint, limit int64) error {
	if sizeHint > limit {
		return errTooLarge
	}
	if sizeHint >= 0 && int64(cap(buf.b)) < sizeHint+readSlack {
		buf.b = make([]byte, 0, sizeHint+readSlack)
	}
	b := buf.b
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			buf.b = b
			return errTooLarge
		}
		if err == io.EOF {
			buf.b = b
			return nil
		}
		if err != nil {
			buf.b = b
			return err
		}
	}
}

// readRequest reads the request body whole, bounded by the configured limit. A body announced
// larger than the limit is refused without being read.
func (c *call) readRequest() (*buffer, bool) {
	buf := getBuffer(0)
	err := readAll(c.r.Body, buf, c.r.ContentLength, c.g.maxRequest)
	if err == nil {
		return buf, true
	}
	putBuffer(buf)
	if errors.Is(err, errTooLarge) {
		// The rest of the body stays unread; the connection cannot be reused.
		c.w.Header().Set("Connection", "close")
		c.fail(apierror.Invalid("", "The request body is larger than this gateway accepts (%d bytes); send fewer or shorter inputs per request.", c.g.maxRequest),
			"body over "+strconv.FormatInt(c.g.maxRequest, 10)+" bytes")
		return nil, false
	}
	if c.r.Context().Err() != nil {
		c.clientClosed("the client went away while sending the body")
		return nil, false
	}
	c.fail(apierror.Invalid("", "The request body could not be read: %v", err), "")
	return nil, false
}

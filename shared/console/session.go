package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/basepath"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/session"
)

// Sessions are rows on the server; the cookie holds only a random session id. A row keeps the SHA-256
// of the session id (so a read of the table yields no usable cookie), the hash of the admin token that
// signed in, the session's CSRF token, its expiry (SessionTTL after sign-in) and when it was last used
// (it ends after SessionIdle unused). Every request looks the token hash up in the catalogue snapshot
// (catalog.Source), whose admins exclude revoked ones, so revoking an admin ends its console sessions
// within SPEC's one second, on every instance, with no key to share between Lambda instances.
// Sign-out deletes the row, so a copied cookie is dead after it; a super admin ends another admin's
// sessions with DELETE /admin/admins/{id}/sessions. Failed sign-ins are throttled per address
// (Config.Throttle).

// SessionStore keeps sessions. GetSession returns (nil, nil) for a session that is unknown, expired
// at now or unused for SessionIdle before now, and otherwise marks it used at now. CreateSession
// records the sign-in e in the audit log with the session; RecordFailedSignin records a refused token.
type SessionStore interface {
	CreateSession(ctx context.Context, s session.Session, e *audit.Entry) error
	RecordFailedSignin(ctx context.Context, e *audit.Entry) error
	GetSession(ctx context.Context, idHash [32]byte, now time.Time) (*session.Session, error)
	DeleteSession(ctx context.Context, idHash [32]byte) error
}

// A console session lasts SessionTTL from sign-in at most, and ends earlier when unused for
// SessionIdle.
const (
	SessionTTL  = 12 * time.Hour
	SessionIdle = time.Hour
)

const (
	sessionCookie = "switchyard_session"
	preCSRFCookie = "switchyard_signin" // CSRF token of the sign-in form, before a session exists
	csrfField     = "csrf"
)

type ctxKey struct{}

// reqState is what the session middleware hands a page.
type reqState struct {
	admin *catalog.Admin
	sess  *session.Session
	snap  *catalog.Snapshot
}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(ctxKey{}).(*reqState)
	return st
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // never happens on a working system
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// setCookie sets a console cookie, scoped to the console under the request's public base path
// ("/prod/console/" behind API Gateway's stage URL).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     basepath.From(r.Context()) + "/console/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   !c.cfg.Local,
		SameSite: http.SameSiteStrictMode,
	})
}

// authed wraps a page: no valid session → the sign-in page; a POST without the session's CSRF
// token → 403, before the page runs.
func (c *Console) authed(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, why := c.session(r)
		if st == nil {
			if r.Method != http.MethodGet {
				c.fail(w, r, http.StatusUnauthorized, "Your session has ended ("+why+"). Sign in again; nothing was changed.")
				return
			}
			q := url.Values{"next": {r.URL.RequestURI()}}
			if why != "" {
				q.Set("why", why)
			}
			redirect(w, r, "/console/signin?"+q.Encode())
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			got := r.PostForm.Get(csrfField)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.sess.CSRF)) != 1 {
				c.fail(w, r, http.StatusForbidden, "This form was refused: it did not carry this session's security token. Reload the page and submit it again.")
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
		if r.Method == http.MethodPost {
			// The page a write redirects to must show the write: read the catalogue now rather
			// than within the snapshot's interval. This runs before the answer leaves.
			if err := c.catalog.Refresh(r.Context()); err != nil {
				c.log.Warn("console: refresh the catalogue after a write", "err", err)
			}
		}
	}
}

// session finds the request's session and its admin; why says what ended a session that is gone.
func (c *Console) session(r *http.Request) (*reqState, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, ""
	}
	s, err := c.sessions.GetSession(r.Context(), sha256.Sum256([]byte(ck.Value)), c.now())
	if err != nil {
		c.log.Error("console: read session", "err", err)
		return nil, "the session could not be read"
	}
	if s == nil {
		return nil, "signed out, expired or unused for too long"
	}
	snap, err := c.catalog.Get(r.Context())
	if err != nil {
		c.log.Error("console: catalogue snapshot", "err", err)
		return nil, "the catalogue could not be read"
	}
	a := snap.Admins[s.TokenHash]
	if a == nil {
		return nil, "the admin token was revoked or replaced"
	}
	return &reqState{admin: a, sess: s, snap: snap}, ""
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if st, _ := c.session(r); st != nil {
		redirect(w, r, "/console/providers")
		return
	}
	c.renderSignin(w, r, http.StatusOK, r.URL.Query().Get("why"), safeNext(r.URL.Query().Get("next")))
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	tok := randomToken(24)
	c.setCookie(w, r, preCSRFCookie, tok, 3600)
	c.render(w, r, status, "signin", &page{Title: "Sign in", Error: msg, Data: map[string]string{"CSRF": tok, "Next": next}})
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	ck, err := r.Cookie(preCSRFCookie)
	got := r.PostForm.Get(csrfField)
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ck.Value)) != 1 {
		c.renderSignin(w, r, http.StatusForbidden, "The sign-in form expired or did not come from this page. Try again.", safeNext(r.PostForm.Get("next")))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	th := catalog.HashSecret(token)
	if token == "" {
		c.renderSignin(w, r, http.StatusUnauthorized, "Enter an admin token. make dev prints a working one.", next)
		return
	}
	a, _, err := c.catalog.Admin(r.Context(), th)
	if err != nil {
		c.log.Error("console: catalogue snapshot", "err", err)
		c.renderSignin(w, r, http.StatusServiceUnavailable, "The catalogue could not be read; try again in a moment.", next)
		return
	}
	if a == nil {
		// A throttled attempt is refused before it is recorded: the throttle bounds how many failed
		// sign-ins one source can add to the audit log.
		if err := c.cfg.Throttle.Fail(r.Context(), r); err != nil {
			c.throttled(w, r, err, next)
			return
		}
		c.signinFailed(r)
		c.renderSignin(w, r, http.StatusUnauthorized, "That admin token is not valid: it is unknown or revoked. make dev prints a working one.", next)
		return
	}
	if err := c.cfg.Throttle.Check(r.Context(), r); err != nil {
		c.throttled(w, r, err, next)
		return
	}
	id := randomToken(32)
	now := c.now()
	s := session.Session{IDHash: sha256.Sum256([]byte(id)), TokenHash: th, CSRF: randomToken(32), CreatedAt: now, ExpiresAt: now.Add(SessionTTL), LastSeen: now}
	if err := c.sessions.CreateSession(r.Context(), s, audit.New(r.Context(), a, audit.SigninOK, a.ID)); err != nil {
		c.log.Error("console: create session", "err", err)
		c.renderSignin(w, r, http.StatusInternalServerError, "The session could not be stored; try again.", next)
		return
	}
	c.setCookie(w, r, preCSRFCookie, "", -1)
	c.setCookie(w, r, sessionCookie, id, int(SessionTTL/time.Second))
	redirect(w, r, next)
}

// throttled answers a sign-in refused by the throttle (429 with Retry-After), or one the throttle
// could not count (500).
func (c *Console) throttled(w http.ResponseWriter, r *http.Request, err error, next string) {
	if e, ok := apierror.As(err); ok {
		w.Header().Set("Retry-After", e.RetryAfter)
		c.renderSignin(w, r, e.Status, "Too many failed sign-ins from your address: every sign-in from it is refused for "+e.RetryAfter+" more seconds. Wait, then sign in with a valid token.", next)
		return
	}
	c.log.Error("console: count a failed sign-in", "err", err)
	c.renderSignin(w, r, http.StatusInternalServerError, "The sign-in could not be checked; try again in a moment.", next)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := c.sessions.DeleteSession(r.Context(), sha256.Sum256([]byte(ck.Value))); err != nil {
			c.log.Error("console: delete session", "err", err)
		}
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	redirect(w, r, "/console/signin?why=signed+out")
}

// safeNext keeps a post-sign-in redirect inside the console. next is a console path, without the
// base path (redirect puts it in front).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/console/providers"
	}
	return next
}

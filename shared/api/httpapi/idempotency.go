package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/core/domain"
)

// Idempotency keeps the first accepted answer to a POST per key id, route
// and Idempotency-Key.
type Idempotency interface {
	ClaimIdempotency(ctx context.Context, key, requestHash string, ttl, staleAfter time.Duration) (claim string, existing *domain.IdemRecord, err error)
	CompleteIdempotency(ctx context.Context, key, claim string, status int, header map[string]string, body string) error
	ReleaseIdempotency(ctx context.Context, key, claim string) error
}

// Idempotency settings: answers are kept 24 hours (docs/API.md); a claim whose
// holder has not answered within staleClaim (past any Lambda timeout) is
// taken over, so a crashed first attempt does not block retries for a day.
const (
	idempotencyTTL    = 24 * time.Hour
	staleClaim        = 2 * time.Minute
	maxIdempotencyKey = 255
)

// replayedHeaders are the headers of an answer that are kept for replays.
var replayedHeaders = []string{"Content-Type", "Location"}

// idempotent serves a write route: it runs the writer, answers its result,
// and, when the request has an Idempotency-Key, keeps the first accepted
// answer and replays it to retries. A refused request (any 4xx, or a 5xx)
// stores nothing.
func (a *API) idempotent(wr writer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Idempotency-Key")) > 1 {
			// Which one would count? Two X-API-Key headers are refused too.
			fail(w, r, badRequest("Idempotency-Key is given more than once"))
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" || a.cfg.Idempotency == nil {
			serveWrite(w, r, wr)
			return
		}
		if !validIdempotencyKey(key) {
			fail(w, r, badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters"))
			return
		}
		body, err := readBody(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		scope := keyID(r) + "#" + r.Method + " " + r.URL.Path + "#" + key
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])

		claim, existing, err := a.cfg.Idempotency.ClaimIdempotency(r.Context(), scope, hash, idempotencyTTL, staleClaim)
		switch {
		case err != nil:
			fail(w, r, err)
			return
		case existing != nil && existing.RequestHash != hash:
			apierror.Write(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with another request body")
			return
		case existing != nil && existing.State != domain.IdemDone:
			w.Header().Set("Retry-After", "1")
			apierror.Write(w, http.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still being handled")
			return
		case existing != nil:
			for k, v := range existing.Header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(existing.Status)
			_, _ = io.WriteString(w, existing.Body)
			return
		}

		rec := &bufferedResponse{header: http.Header{}}
		serveWrite(rec, r, wr)
		// Settle the record whatever happens to the request's context: a
		// claim left pending would block retries until it goes stale.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if rec.status < 400 {
			kept := map[string]string{}
			for _, h := range replayedHeaders {
				if v := rec.header.Get(h); v != "" {
					kept[h] = v
				}
			}
			if err := a.cfg.Idempotency.CompleteIdempotency(ctx, scope, claim, rec.status, kept, rec.body.String()); err != nil {
				a.cfg.Logger.Error("store idempotent answer", "error", err)
			}
		} else if err := a.cfg.Idempotency.ReleaseIdempotency(ctx, scope, claim); err != nil {
			a.cfg.Logger.Error("release idempotency key", "error", err)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

func validIdempotencyKey(k string) bool {
	if len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// serveWrite runs a writer and sends its answer.
func serveWrite(w http.ResponseWriter, r *http.Request, wr writer) {
	ans, err := wr(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if ans.location != "" {
		w.Header().Set("Location", ans.location)
	}
	writeJSON(w, ans.status, ans.body)
}

// bufferedResponse holds an answer until the idempotency record is settled.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

package httpapi

import (
	"context"
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/plainview/serverless/shared/api/auth"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

type principalKey struct{}

// principalOf is the key the authorizer admitted for this request, if any.
func principalOf(r *http.Request) (auth.Principal, bool) {
	if n, ok := r.Context().Value(noteCtxKey{}).(*requestNote); ok && n.hasPrincipal {
		return n.principal, true
	}
	p, ok := r.Context().Value(principalKey{}).(auth.Principal)
	return p, ok
}

// guard enforces a route's scope with what the authorizer put in the
// request context. API Gateway runs the authorizer before any route that
// needs a key; checking again here means a route wired without it fails
// closed. On a public route a key, good or bad, is ignored.
func (a *API) guard(rt routes.Route, next http.Handler) http.Handler {
	needsKey := rt.Scope != routes.Public && (rt.Scope != routes.Read || a.cfg.RequireKeyForReads)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !needsKey {
			next.ServeHTTP(w, r)
			return
		}
		var p auth.Principal
		ok := false
		if gw, found := core.GetAPIGatewayContextFromContext(r.Context()); found {
			p, ok = auth.PrincipalFromContext(gw.Authorizer)
		}
		if !ok {
			apierror.Write(w, http.StatusUnauthorized, apierror.CodeUnauthorized, "an API key (X-API-Key) is required")
			return
		}
		if !p.Has(string(rt.Scope)) {
			noteKey(r, p.KeyID)
			apierror.Write(w, http.StatusForbidden, apierror.CodeForbidden, "the key lacks the scope "+string(rt.Scope))
			return
		}
		// The request's note carries the principal to the handler (and the
		// key id to the log line) without another copy of the request; a
		// request that came some other way than ServeHTTP has no note.
		if !notePrincipal(r, p) {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		next.ServeHTTP(w, r)
	})
}

// mayUse refuses an asset the key is restricted away from.
func mayUse(r *http.Request, asset string) error {
	if p, ok := principalOf(r); ok && !p.MayUse(asset) {
		return &statusError{http.StatusForbidden, apierror.CodeForbidden, "the key may not act on " + asset}
	}
	return nil
}

// keyID is the id of the request's key, "" without one.
func keyID(r *http.Request) string {
	p, _ := principalOf(r)
	return p.KeyID
}

package console

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// fixes says what to do about each verification diagnostic, beside the diagnostic's own message.
var fixes = map[string]string{
	"credential_whitespace": "The credential had whitespace around it. Switchyard trimmed it and stored the trimmed value; fix the place you copied it from too.",
	"unreachable":           "Switchyard could not connect. Check the host and port, and that the endpoint is reachable from Switchyard's network.",
	"tls_error":             "The endpoint's certificate is not trusted. If it comes from a private certificate authority, paste that CA's PEM into CA bundle.",
	"auth_rejected":         "The endpoint refused the credential. Re-enter it from a known-good source and check the auth method (and header name for api_key).",
	"not_openai_compatible": "The endpoint answered, but not as an OpenAI-compatible API. Check that the base URL is the API root (it usually ends in /v1).",
	"blocked_address":       "The host resolves to an address Switchyard never dials (link-local or cloud metadata, or loopback outside local runs). Use the endpoint's routable address.",
	"doubled_route":         "The base URL already holds a route the gateway appends. Use the corrected URL.",
}

type providerRow struct {
	*admin.ProviderView
	Models int
}

func (c *Console) providersPage(w http.ResponseWriter, r *http.Request) {
	list, err := c.svc.Admin.ListProviders(r.Context(), stateOf(r).admin)
	p := &page{Title: "Providers", Nav: "providers"}
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "providers", p)
		return
	}
	counts := map[string]int{}
	for _, m := range stateOf(r).snap.Models {
		counts[m.Provider]++
	}
	rows := make([]providerRow, 0, len(list.Data))
	for _, pr := range list.Data {
		rows = append(rows, providerRow{pr, counts[pr.Identifier]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Identifier < rows[j].Identifier })
	p.Data = rows
	c.render(w, r, http.StatusOK, "providers", p)
}

// providerForm is the add/edit form's data.
type providerForm struct {
	Edit      bool
	Provider  *admin.ProviderView // the stored provider when editing
	Corrected string              // the working base URL when the typed one doubled a route
	Fixes     map[string]string
}

func (c *Console) providerNew(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	c.render(w, r, http.StatusOK, "provider_form", &page{Title: "Add a provider", Nav: "providers", Data: &providerForm{}})
}

// providerInput reads the add form. The credential is passed as typed, whitespace included, so
// verification can say it trimmed it.
func providerInput(f url.Values) admin.ProviderInput {
	return admin.ProviderInput{
		Identifier:  strings.TrimSpace(f.Get("identifier")),
		DisplayName: strings.TrimSpace(f.Get("display_name")),
		BaseURL:     f.Get("base_url"),
		Auth:        admin.AuthInput{Method: f.Get("auth_method"), Header: strings.TrimSpace(f.Get("auth_header")), Credential: f.Get("credential")},
		CABundle:    f.Get("ca_bundle"),
	}
}

// providerPatch reads the edit form; an empty credential field keeps the stored credential.
func providerPatch(f url.Values) admin.ProviderPatch {
	in := providerInput(f)
	p := admin.ProviderPatch{DisplayName: &in.DisplayName, BaseURL: &in.BaseURL, CABundle: &in.CABundle,
		Auth: &admin.AuthPatch{Method: &in.Auth.Method, Header: &in.Auth.Header}}
	if in.Auth.Credential != "" {
		p.Auth.Credential = &in.Auth.Credential
	}
	return p
}

func (c *Console) providerCreate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	pr, err := c.svc.Admin.CreateProvider(r.Context(), stateOf(r).admin, providerInput(r.PostForm))
	if err != nil {
		c.providerFormError(w, r, &providerForm{}, err)
		return
	}
	back(w, r, "/console/providers/"+url.PathEscape(pr.Identifier)+"?saved=1", "")
}

func (c *Console) providerUpdate(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	id := r.PathValue("id")
	by := stateOf(r).admin
	pr, err := c.svc.Admin.UpdateProvider(r.Context(), by, id, providerPatch(r.PostForm))
	if err != nil {
		cur, _ := c.svc.Admin.GetProvider(r.Context(), by, id)
		c.providerFormError(w, r, &providerForm{Edit: true, Provider: cur}, err)
		return
	}
	back(w, r, "/console/providers/"+url.PathEscape(pr.Identifier)+"?saved=1", "")
}

// providerFormError shows the form again with what was typed (except the credential) and the error
// next to its field; a doubled route also gets the corrected URL to use.
func (c *Console) providerFormError(w http.ResponseWriter, r *http.Request, f *providerForm, err error) {
	title := "Add a provider"
	if f.Edit {
		title = "Edit provider"
	}
	p := &page{Title: title, Nav: "providers", Form: r.PostForm, Data: f}
	status := c.serviceError(r, p, err)
	var dr *catalog.DoubledRouteError
	if _, e := catalog.NormalizeBaseURL(r.PostForm.Get("base_url")); errors.As(e, &dr) {
		f.Corrected = dr.Corrected
	}
	// Never echo a credential back into the page.
	p.Form = cloneWithout(r.PostForm, "credential", csrfField)
	c.render(w, r, status, "provider_form", p)
}

func cloneWithout(v url.Values, drop ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for _, d := range drop {
		delete(out, d)
	}
	return out
}

// providerView is the provider's own page: its settings, its last verification, and the edit form.
type providerView struct {
	providerForm
	Saved    bool
	Verified bool // the page follows a verify
	Models   []*catalog.Model
	Capacity *limitsSection
}

func (c *Console) renderProvider(w http.ResponseWriter, r *http.Request, status int, p *page) {
	_, pr, ok := detail(c, w, r, p, "id", "Provider", "providers", c.svc.Admin.GetProvider)
	if !ok {
		return
	}
	v := &providerView{providerForm: providerForm{Edit: true, Provider: pr, Fixes: fixes}, Saved: r.URL.Query().Get("saved") != "", Verified: r.URL.Query().Get("verified") != ""}
	for _, m := range stateOf(r).snap.Models {
		if m.Provider == pr.Identifier {
			v.Models = append(v.Models, m)
		}
	}
	sort.Slice(v.Models, func(i, j int) bool { return v.Models[i].Name < v.Models[j].Name })
	v.Capacity = c.limitsSection(r, p, c.limitsByScope(r), catalog.Scope{Kind: catalog.ScopeProvider, Name: pr.Identifier}, "/console/providers/"+url.PathEscape(pr.Identifier)+"/limits")
	p.Data = v
	c.render(w, r, status, "provider", p)
}

func (c *Console) providerVerify(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	id := r.PathValue("id")
	if _, err := c.svc.Admin.VerifyProvider(r.Context(), stateOf(r).admin, id); err != nil {
		p := &page{Title: "Verify " + id, Nav: "providers"}
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	back(w, r, "/console/providers/"+url.PathEscape(id)+"?verified=1", "")
}

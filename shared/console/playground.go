package console

import (
	"net/http"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// The playground is the developer's console: the browser itself calls the developer API on this
// same origin (GET /v1/models, POST /v1/chat/completions streamed, POST /v1/embeddings) with the
// developer key typed into the page, exactly as an SDK would. The key stays in the page; the server
// only mints one on request, shown once like any key.

type playgroundView struct {
	Teams  []string
	NewKey *admin.KeyView
}

func (c *Console) playgroundPage(w http.ResponseWriter, r *http.Request) {
	c.renderPlayground(w, r, http.StatusOK, &page{}, nil)
}

func (c *Console) renderPlayground(w http.ResponseWriter, r *http.Request, status int, p *page, k *admin.KeyView) {
	p.Title, p.Nav = "Playground", "playground"
	p.Data = &playgroundView{Teams: teamNames(stateOf(r).snap), NewKey: k}
	c.render(w, r, status, "playground", p)
}

func (c *Console) playgroundMint(w http.ResponseWriter, r *http.Request) {
	if c.forbid(w, r, catalog.AreaAccess, true) {
		return
	}
	k, err := c.svc.Admin.CreateKey(r.Context(), stateOf(r).admin, admin.KeyInput{Team: r.PostForm.Get("team"), Name: "playground"})
	if err != nil {
		p := &page{Form: r.PostForm}
		c.renderPlayground(w, r, c.serviceError(r, p, err), p, nil)
		return
	}
	c.renderPlayground(w, r, http.StatusCreated, &page{Notice: "Minted key " + k.ID + " for team " + k.Team + ". Copy it now: it is shown this once."}, k)
}

package console

import "net/http"

func (c *Console) todo(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, http.StatusNotImplemented, "This page is not built yet.")
}

func (c *Console) aliasesPage(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) aliasCreate(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) aliasPage(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) aliasMove(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) aliasRollback(w http.ResponseWriter, r *http.Request)  { c.todo(w, r) }
func (c *Console) teamsPage(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) teamCreate(w http.ResponseWriter, r *http.Request)     { c.todo(w, r) }
func (c *Console) keyCreate(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) keyRevoke(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) grant(w http.ResponseWriter, r *http.Request)          { c.todo(w, r) }
func (c *Console) ungrant(w http.ResponseWriter, r *http.Request)        { c.todo(w, r) }
func (c *Console) corporaPage(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) corpusPage(w http.ResponseWriter, r *http.Request)     { c.todo(w, r) }
func (c *Console) reembedStart(w http.ResponseWriter, r *http.Request)   { c.todo(w, r) }
func (c *Console) corpusRollback(w http.ResponseWriter, r *http.Request) { c.todo(w, r) }
func (c *Console) runPage(w http.ResponseWriter, r *http.Request)        { c.todo(w, r) }
func (c *Console) runProgress(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) runCancel(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) usagePage(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }
func (c *Console) requestsPage(w http.ResponseWriter, r *http.Request)   { c.todo(w, r) }
func (c *Console) playgroundPage(w http.ResponseWriter, r *http.Request) { c.todo(w, r) }
func (c *Console) playgroundMint(w http.ResponseWriter, r *http.Request) { c.todo(w, r) }

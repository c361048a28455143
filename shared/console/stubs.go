package console

import "net/http"

func (c *Console) todo(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, http.StatusNotImplemented, "This page is not built yet.")
}

func (c *Console) corporaPage(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) corpusPage(w http.ResponseWriter, r *http.Request)     { c.todo(w, r) }
func (c *Console) reembedStart(w http.ResponseWriter, r *http.Request)   { c.todo(w, r) }
func (c *Console) corpusRollback(w http.ResponseWriter, r *http.Request) { c.todo(w, r) }
func (c *Console) runPage(w http.ResponseWriter, r *http.Request)        { c.todo(w, r) }
func (c *Console) runProgress(w http.ResponseWriter, r *http.Request)    { c.todo(w, r) }
func (c *Console) runCancel(w http.ResponseWriter, r *http.Request)      { c.todo(w, r) }

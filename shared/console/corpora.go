package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/corpus"
)

// corporaReady answers the page when this build has no corpora, and checks the read role.
func (c *Console) corporaReady(w http.ResponseWriter, r *http.Request) bool {
	if c.svc.Corpora == nil {
		c.unavailable(w, r, "Corpora and re-embeds")
		return false
	}
	return !c.forbid(w, r, catalog.AreaCatalog, false)
}

type corpusRow struct {
	*corpus.Corpus
	Active  *corpus.Index
	Standby *corpus.Index
	Target  string // where the alias points now
}

func row(c *corpus.Corpus, snap *catalog.Snapshot) corpusRow {
	r := corpusRow{Corpus: c}
	for _, ix := range c.Indexes {
		switch ix.State {
		case corpus.IndexActive:
			r.Active = ix
		case corpus.IndexStandby:
			if r.Standby == nil {
				r.Standby = ix
			}
		}
	}
	if a := snap.Aliases[c.Alias]; a != nil {
		r.Target = a.Target
	}
	return r
}

func (c *Console) corporaPage(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) {
		return
	}
	p := &page{Title: "Corpora & re-embeds", Nav: "corpora"}
	list, err := c.svc.Corpora.ListCorpora(r.Context(), stateOf(r).admin)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	rows := make([]corpusRow, 0, len(list))
	for _, co := range list {
		rows = append(rows, row(co, stateOf(r).snap))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	p.Data = rows
	c.render(w, r, http.StatusOK, "corpora", p)
}

type corpusView struct {
	corpusRow
	Models []*catalog.Model // enabled embedding models to re-embed with
	Runs   []int64          // runs that built a live index, newest first
	// Estimate and Preview are shown when the re-embed form's buttons asked for them.
	Estimate *admin.EstimateView
	Preview  *admin.PreviewView
}

func (c *Console) corpusPage(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) {
		return
	}
	c.renderCorpus(w, r, http.StatusOK, &page{})
}

func (c *Console) renderCorpus(w http.ResponseWriter, r *http.Request, status int, p *page, show ...func(*corpusView)) {
	_, co, ok := detail(c, w, r, p, "name", "Corpus", "corpora", c.svc.Corpora.GetCorpus)
	if !ok {
		return
	}
	snap := stateOf(r).snap
	v := &corpusView{corpusRow: row(co, snap), Models: enabledModels(snap, catalog.KindEmbedding)}
	for _, ix := range co.Indexes {
		if ix.RunID != 0 {
			v.Runs = append(v.Runs, ix.RunID)
		}
	}
	for _, f := range show {
		f(v)
	}
	p.Data = v
	c.render(w, r, status, "corpus", p)
}

func (c *Console) reembedStart(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) || c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	run, err := c.svc.Corpora.StartReembed(r.Context(), stateOf(r).admin, name, admin.ReembedInput{Model: r.PostForm.Get("model")})
	if err != nil {
		p := &page{Form: r.PostForm}
		status := c.serviceError(r, p, err)
		if ae, ok := admin.APIError(err); ok && ae.Code == apierror.CodeRunInProgress {
			p.Fix = &link{Text: "Open the run in progress", Href: "/console/corpora/" + url.PathEscape(name)}
		}
		c.renderCorpus(w, r, status, p)
		return
	}
	back(w, r, "/console/reembeds/"+strconv.FormatInt(run.ID, 10), "Started re-embedding with "+run.Target+".")
}

func (c *Console) corpusRollback(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) || c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	co, err := c.svc.Corpora.RollbackCorpus(r.Context(), stateOf(r).admin, name)
	if err != nil {
		p := &page{}
		c.renderCorpus(w, r, c.bannerError(r, p, err), p)
		return
	}
	notice := "Rolled " + name + " back"
	if ix := row(co, stateOf(r).snap).Active; ix != nil {
		notice += " to its index on " + ix.Model
	}
	back(w, r, "/console/corpora/"+url.PathEscape(name), notice+"; the alias moved with it.")
}

// corpusKeepQueries turns keeping the corpus's recent search queries on or off (the form's
// keep_queries, "true" or "false"); off deletes those kept.
func (c *Console) corpusKeepQueries(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) || c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	name := r.PathValue("name")
	on := r.PostForm.Get("keep_queries") == "true"
	if _, err := c.svc.Corpora.UpdateCorpus(r.Context(), stateOf(r).admin, name, admin.CorpusPatch{KeepQueries: &on}); err != nil {
		p := &page{}
		c.renderCorpus(w, r, c.bannerError(r, p, err), p)
		return
	}
	notice := "Search queries of " + name + " are kept from now on, for the re-embed preview."
	if !on {
		notice = "Search queries of " + name + " are no longer kept; those kept were deleted."
	}
	back(w, r, "/console/corpora/"+url.PathEscape(name)+"#queries", notice)
}

// runJSON is what the run page polls: the admin API's view of the run, and two things the page draws
// from it: whether the run has finished, and its percentage.
type runJSON struct {
	*admin.RunView
	Finished bool    `json:"finished"`
	Percent  float64 `json:"percent"`
}

func (c *Console) runOf(r *http.Request) (*runJSON, *corpus.Run, error) {
	run, err := c.svc.Corpora.GetReembed(r.Context(), stateOf(r).admin, r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	v := c.svc.Corpora.ViewRun(run)
	return &runJSON{RunView: v, Finished: run.State.Terminal(), Percent: percent(v.Embedded, v.Total)}, run, nil
}

type runView struct {
	P       *runJSON
	Run     *corpus.Run
	Corpora []string
}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) {
		return
	}
	p := &page{Title: "Re-embed run " + r.PathValue("id"), Nav: "corpora"}
	pj, run, err := c.runOf(r)
	if err != nil {
		c.render(w, r, c.serviceError(r, p, err), "error", p)
		return
	}
	v := &runView{P: pj, Run: run}
	if list, err := c.svc.Corpora.ListCorpora(r.Context(), stateOf(r).admin); err == nil {
		for _, co := range list {
			if co.Alias == run.Alias {
				v.Corpora = append(v.Corpora, co.Name)
			}
		}
	}
	p.Data = v
	c.render(w, r, http.StatusOK, "run", p)
}

// runProgress answers the run page's poll with SPEC's progress fields as JSON.
func (c *Console) runProgress(w http.ResponseWriter, r *http.Request) {
	if c.svc.Corpora == nil || !stateOf(r).admin.Role.Can(catalog.AreaCatalog, false) {
		apierror.Write(w, apierror.New(http.StatusForbidden, apierror.PermissionError, apierror.CodeForbidden, "", "not available"))
		return
	}
	pj, _, err := c.runOf(r)
	if err != nil {
		if ae, ok := admin.APIError(err); ok {
			apierror.Write(w, ae)
			return
		}
		c.log.Error("console: run progress", "err", err)
		apierror.Write(w, apierror.Internal(""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(pj)
}

func (c *Console) runCancel(w http.ResponseWriter, r *http.Request) {
	if !c.corporaReady(w, r) || c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	if _, err := c.svc.Corpora.CancelReembed(r.Context(), stateOf(r).admin, r.PathValue("id")); err != nil {
		p := &page{}
		c.render(w, r, c.bannerError(r, p, err), "error", p)
		return
	}
	back(w, r, "/console/reembeds/"+r.PathValue("id"), "Cancelled: the active indexes keep serving; the unfinished ones are dropped.")
}

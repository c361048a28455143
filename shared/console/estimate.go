package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/apierror"
	"github.com/switchyard-ai/switchyard/shared/catalog"
	"github.com/switchyard-ai/switchyard/shared/reembed"
)

// sampleInput reads the re-embed form's model and sample size (empty: the default).
func sampleInput(r *http.Request) (admin.SampleInput, error) {
	in := admin.SampleInput{Model: r.PostForm.Get("model")}
	if s := strings.TrimSpace(r.PostForm.Get("sample")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return in, apierror.Invalid("sample", "the sample is a number of documents, 1 or more (200 if left empty)")
		}
		in.Sample = n
	}
	return in, nil
}

// reembedEstimate answers the re-embed form's Estimate button: the corpus page again, with the
// candidate's estimate beside the form. Nothing is written.
func (c *Console) reembedEstimate(w http.ResponseWriter, r *http.Request) {
	reembedMeasure(c, w, r, c.svc.Corpora.EstimateReembed, func(cv *corpusView, e *reembed.Estimate) { cv.Estimate = admin.EstimateViewOf(e) })
}

// reembedPreview answers the re-embed form's Preview button: the corpus page again, with the
// quality report beside the form. The scratch data is gone by the time the page renders.
func (c *Console) reembedPreview(w http.ResponseWriter, r *http.Request) {
	reembedMeasure(c, w, r, c.svc.Corpora.PreviewReembed, func(cv *corpusView, p *reembed.Preview) { cv.Preview = admin.PreviewViewOf(p) })
}

// reembedMeasure reads the form's sample, asks measure about the corpus named in the path as the
// signed-in admin, and renders the corpus page with the answer shown, or with the error at its field.
func reembedMeasure[T any](c *Console, w http.ResponseWriter, r *http.Request,
	measure func(context.Context, *catalog.Admin, string, admin.SampleInput) (T, error), show func(*corpusView, T)) {
	if !c.corporaReady(w, r) || c.forbid(w, r, catalog.AreaCatalog, true) {
		return
	}
	p := &page{Form: r.PostForm}
	in, err := sampleInput(r)
	var got T
	if err == nil {
		got, err = measure(r.Context(), stateOf(r).admin, r.PathValue("name"), in)
	}
	if err != nil {
		c.renderCorpus(w, r, c.serviceError(r, p, err), p)
		return
	}
	c.renderCorpus(w, r, http.StatusOK, p, func(cv *corpusView) { show(cv, got) })
}

// seconds shows a duration in seconds the way an operator plans with it: "3 h 20 min", "45 s".
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Second:
		return "under 1 s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min " + strconv.Itoa(int(d%time.Minute/time.Second)) + " s"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days " + strconv.Itoa(int(d%(24*time.Hour)/time.Hour)) + " h"
}

// money shows an amount to the cent, or to six decimals when it is less than a cent, so that a
// small corpus's cost does not read as nothing.
func money(f float64) string {
	if f >= 0.01 || f == 0 {
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	return strings.TrimRight(strconv.FormatFloat(f, 'f', 6, 64), "0")
}

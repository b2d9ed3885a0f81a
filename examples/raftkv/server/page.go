package server

import (
	"html/template"
	"net/http"
)

// page is the human-readable status page (GET /).
var page = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>raftkv node {{.NodeID}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}.leader{font-weight:bold}</style>
</head><body>
<h1>raftkv node {{.NodeID}} <small>(cluster {{.ClusterID}})</small></h1>
<p>Role: <b>{{.Role}}</b>, term {{.Term}}, leader: {{with .Leader}}node {{.ID}} ({{.APIAddr}}){{else}}none known{{end}}. Up {{.Uptime}}.</p>
{{with .Error}}<p style="color:red">Stopped on a failure: {{.}}</p>{{end}}
<h2>Indexes</h2>
<table><tr><th>commit</th><th>applied</th><th>snapshot</th><th>last</th></tr>
<tr><td>{{.Commit}}</td><td>{{.Applied}}</td><td>{{.Snapshot}}</td><td>{{.LastIndex}}</td></tr></table>
<h2>Members{{if .Joint}} (joint configuration){{end}}</h2>
<table><tr><th>id</th><th>role</th><th>raft address</th><th>API address</th><th>match</th><th>lag</th><th>state</th></tr>
{{range .Members}}<tr{{if and $.Leader (eq .ID $.Leader.ID)}} class="leader"{{end}}><td>{{.ID}}</td><td>{{.Role}}</td><td>{{.RaftAddr}}</td>
<td>{{if .APIAddr}}<a href="http://{{.APIAddr}}/">{{.APIAddr}}</a>{{end}}</td><td>{{.Match}}</td><td>{{.Lag}}</td><td>{{.State}}</td></tr>
{{end}}</table>
<p>(match, lag and state are the leader's view; shown on the leader only)</p>
<h2>State machine</h2>
<p>{{.SM.Kind}}: {{if ge .SM.Keys 0}}{{.SM.Keys}} keys, {{end}}{{.SM.Sessions}} client sessions, applied index {{.SM.Applied}}, {{.SM.Restores}} snapshot restores.
Snapshots taken {{.Snapshots.Taken}}, sent {{.Snapshots.Sent}}, received {{.Snapshots.Received}}, installed {{.Snapshots.Installed}}.</p>
<h2>Recent leader changes</h2>
<table><tr><th>time</th><th>term</th><th>leader</th></tr>
{{range .Leaders}}<tr><td>{{.Time.Format "15:04:05.000"}}</td><td>{{.Term}}</td><td>{{.Leader}}</td></tr>{{end}}</table>
<p><a href="/v1/admin/status">status JSON</a> · <a href="/metrics">metrics</a></p>
</body></html>
`))

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return page.Execute(w, s.Status(r.Context()))
}

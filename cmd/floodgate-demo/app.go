package main

import (
	"bytes"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// app is the demo's in-memory data: users, sessions and gift-exchange
// groups. It is safe for concurrent use.
type app struct {
	mu       sync.Mutex
	users    map[string]user   // by username
	sessions map[string]string // token → username
	groups   map[int]*group
	nextID   int
}

type user struct {
	salt, hash [32]byte
}

type group struct {
	ID         int               `json:"id"`
	Name       string            `json:"name"`
	Members    []string          `json:"members"`
	Exclusions []exclusion       `json:"exclusions"`
	Draw       map[string]string `json:"draw,omitempty"` // giver → receiver
}

type exclusion struct {
	Giver    string `json:"giver"`
	Receiver string `json:"receiver"`
}

func newApp() *app {
	return &app{users: map[string]user{}, sessions: map[string]string{}, groups: map[int]*group{}, nextID: 1}
}

func (a *app) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
	})
	mux.HandleFunc("POST /api/v1/auth/register", a.register)
	mux.HandleFunc("POST /api/v1/auth/login", a.login)
	mux.HandleFunc("GET /api/v1/auth/me", a.me)
	mux.HandleFunc("POST /api/v1/auth/logout", a.logout)
	mux.HandleFunc("GET /api/v1/groups", a.listGroups)
	mux.HandleFunc("POST /api/v1/groups", a.createGroup)
	mux.HandleFunc("GET /api/v1/groups/{id}", a.withGroup(func(w http.ResponseWriter, _ *http.Request, g *group) {
		writeJSON(w, http.StatusOK, g)
	}))
	mux.HandleFunc("DELETE /api/v1/groups/{id}", a.withGroup(func(w http.ResponseWriter, _ *http.Request, g *group) {
		delete(a.groups, g.ID)
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/v1/groups/{id}/members", a.withGroup(func(w http.ResponseWriter, _ *http.Request, g *group) {
		writeJSON(w, http.StatusOK, g.Members)
	}))
	mux.HandleFunc("POST /api/v1/groups/{id}/members", a.withGroup(a.addMember))
	mux.HandleFunc("DELETE /api/v1/groups/{id}/members/{member}", a.withGroup(a.removeMember))
	mux.HandleFunc("GET /api/v1/groups/{id}/exclusions", a.withGroup(func(w http.ResponseWriter, _ *http.Request, g *group) {
		writeJSON(w, http.StatusOK, g.Exclusions)
	}))
	mux.HandleFunc("POST /api/v1/groups/{id}/exclusions", a.withGroup(a.addExclusion))
	mux.HandleFunc("GET /api/v1/groups/{id}/draw", a.withGroup(func(w http.ResponseWriter, _ *http.Request, g *group) {
		if g.Draw == nil {
			writeError(w, http.StatusNotFound, "no draw yet")
			return
		}
		writeJSON(w, http.StatusOK, g.Draw)
	}))
	mux.HandleFunc("POST /api/v1/groups/{id}/draw", a.withGroup(a.draw))
	return mux
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// errTrailing is the error of a body with data after its JSON value.
var errTrailing = errors.New("data after the JSON value")

// decodeStrict decodes b, which must hold exactly one JSON value of v's
// shape with no unknown fields, into v.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

// parseCredentials is the one parse of a login or registration body,
// used by the handlers and by the login route's per-account key
// (accountName): whatever the limiter cannot key, the handler refuses.
func parseCredentials(b []byte) (credentials, error) {
	var c credentials
	if err := decodeStrict(b, &c); err != nil {
		return c, err
	}
	if c.Username == "" {
		return c, errors.New("no username")
	}
	return c, nil
}

// readBody reads r's body, answering 413 or 400 when it cannot.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body) // the server's MaxBytesHandler bounds it
	if err != nil {
		if me := (*http.MaxBytesError)(nil); errors.As(err, &me) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			writeError(w, http.StatusBadRequest, "cannot read the body")
		}
		return nil, false
	}
	return b, true
}

// readJSON reads r's body into v, strictly (decodeStrict), answering 400
// when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := readBody(w, r)
	if !ok {
		return false
	}
	if decodeStrict(b, v) != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return false
	}
	return true
}

// readCredentials reads a login or registration body with
// parseCredentials, answering 400 when it cannot.
func readCredentials(w http.ResponseWriter, r *http.Request) (credentials, bool) {
	b, ok := readBody(w, r)
	if !ok {
		return credentials{}, false
	}
	c, err := parseCredentials(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: want exactly {\"username\":…,\"password\":…}")
		return c, false
	}
	return c, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// hashPassword is a stand-in: a real service uses a slow password hash
// such as bcrypt or argon2id.
func hashPassword(salt [32]byte, pw string) [32]byte {
	return sha256.Sum256(append(salt[:], pw...))
}

func (a *app) register(w http.ResponseWriter, r *http.Request) {
	c, ok := readCredentials(w, r)
	if !ok {
		return
	}
	if len(c.Password) < 8 {
		writeError(w, http.StatusBadRequest, "username required and password of at least 8 characters")
		return
	}
	var u user
	_, _ = crand.Read(u.salt[:])
	u.hash = hashPassword(u.salt, c.Password)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, taken := a.users[c.Username]; taken {
		writeError(w, http.StatusConflict, "username taken")
		return
	}
	a.users[c.Username] = u
	writeJSON(w, http.StatusCreated, map[string]string{"username": c.Username})
}

// login checks credentials. Its body is parsed by readCredentials, as
// the per-account limit's key is: a body that key could not read is a
// 400 here, before any password is checked.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	c, ok := readCredentials(w, r)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, found := a.users[c.Username]
	h := hashPassword(u.salt, c.Password)
	if !found || subtle.ConstantTimeCompare(h[:], u.hash[:]) != 1 {
		writeError(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	var tok [16]byte
	_, _ = crand.Read(tok[:])
	t := hex.EncodeToString(tok[:])
	a.sessions[t] = c.Username
	writeJSON(w, http.StatusOK, map[string]string{"token": t})
}

// session returns the caller's token and username.
func (a *app) session(r *http.Request) (token, name string, ok bool) {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found {
		return "", "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	name, ok = a.sessions[token]
	return token, name, ok
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	_, name, ok := a.session(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "not logged in")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": name})
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if tok, _, ok := a.session(r); ok {
		a.mu.Lock()
		delete(a.sessions, tok)
		a.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) listGroups(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*group, 0, len(a.groups))
	for _, g := range a.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y *group) int { return x.ID - y.ID })
	writeJSON(w, http.StatusOK, out)
}

func (a *app) createGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Name == "" {
		writeError(w, http.StatusBadRequest, "name required")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	g := &group{ID: a.nextID, Name: in.Name, Members: []string{}, Exclusions: []exclusion{}}
	a.nextID++
	a.groups[g.ID] = g
	writeJSON(w, http.StatusCreated, g)
}

// withGroup runs fn with the group named by the {id} wildcard, holding
// the app's lock.
func (a *app) withGroup(fn func(http.ResponseWriter, *http.Request, *group)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusNotFound, "no such group")
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		g := a.groups[id]
		if g == nil {
			writeError(w, http.StatusNotFound, "no such group")
			return
		}
		fn(w, r, g)
	}
}

func (a *app) addMember(w http.ResponseWriter, r *http.Request, g *group) {
	var in struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.Name == "" || slices.Contains(g.Members, in.Name) {
		writeError(w, http.StatusBadRequest, "name required and unique in the group")
		return
	}
	g.Members = append(g.Members, in.Name)
	g.Draw = nil
	writeJSON(w, http.StatusCreated, g.Members)
}

func (a *app) removeMember(w http.ResponseWriter, r *http.Request, g *group) {
	i := slices.Index(g.Members, r.PathValue("member"))
	if i < 0 {
		writeError(w, http.StatusNotFound, "no such member")
		return
	}
	g.Members = slices.Delete(g.Members, i, i+1)
	g.Draw = nil
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) addExclusion(w http.ResponseWriter, r *http.Request, g *group) {
	var ex exclusion
	if !readJSON(w, r, &ex) {
		return
	}
	if !slices.Contains(g.Members, ex.Giver) || !slices.Contains(g.Members, ex.Receiver) {
		writeError(w, http.StatusBadRequest, "giver and receiver must be members")
		return
	}
	g.Exclusions = append(g.Exclusions, ex)
	g.Draw = nil
	writeJSON(w, http.StatusCreated, g.Exclusions)
}

// draw assigns each member someone else to give to, honouring exclusions,
// by trying random permutations.
func (a *app) draw(w http.ResponseWriter, _ *http.Request, g *group) {
	n := len(g.Members)
	if n < 2 {
		writeError(w, http.StatusBadRequest, "a draw needs at least two members")
		return
	}
	banned := map[exclusion]bool{}
	for _, ex := range g.Exclusions {
		banned[ex] = true
	}
	perm := make([]int, n)
	for range 1000 {
		for i := range perm {
			perm[i] = i
		}
		rand.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		ok := true
		for i, j := range perm {
			if i == j || banned[exclusion{g.Members[i], g.Members[j]}] {
				ok = false
				break
			}
		}
		if ok {
			g.Draw = map[string]string{}
			for i, j := range perm {
				g.Draw[g.Members[i]] = g.Members[j]
			}
			writeJSON(w, http.StatusOK, g.Draw)
			return
		}
	}
	writeError(w, http.StatusConflict, "no draw satisfies the exclusions")
}

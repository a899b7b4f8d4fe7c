/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteServiceAccountKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sa.key")
	if err := writeServiceAccountKey(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("no RSA PRIVATE KEY block in %s", path)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() < 2048 {
		t.Errorf("key has %d bits, want 2048", key.N.BitLen())
	}
}

func TestTokenFileContent(t *testing.T) {
	want := "abc,octorun-admin,octorun-admin,\"system:masters\"\n"
	if got := tokenFileContent("abc"); got != want {
		t.Errorf("tokenFileContent() = %q, want %q", got, want)
	}
	a, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 32 || a == b {
		t.Errorf("newToken() = %q then %q, want long random tokens", a, b)
	}
}

func TestKubeconfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	ca := filepath.Join(dir, "apiserver.crt")
	if err := os.WriteFile(ca, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := restConfig("https://127.0.0.1:6443", ca, "tok")
	if err := writeKubeconfig(want, path); err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Host != want.Host || got.BearerToken != want.BearerToken || got.CAFile != want.CAFile {
		t.Errorf("kubeconfig gives host %q token %q CA %q, want %q %q %q",
			got.Host, got.BearerToken, got.CAFile, want.Host, want.BearerToken, want.CAFile)
	}
}

func TestWriteCABundleKeepsCAsOnly(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test-ca"},
		NotBefore:             time.Now(),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, caTemplate, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "ca.crt")
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(src, bundle, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := writeCABundle(src, dst); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if string(data) != string(want) {
		t.Errorf("ca.crt holds\n%s\nwant the CA only:\n%s", data, want)
	}

	// A bundle without a CA is an error.
	if err := os.WriteFile(src, bundle[:len(bundle)-len(want)], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeCABundle(src, dst); err == nil {
		t.Error("writeCABundle() = nil for a bundle without a CA")
	}
}

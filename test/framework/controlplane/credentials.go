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
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// AdminUser is the user of the admin token, in the system:masters group.
	AdminUser = "octorun-admin"
	// contextName names the cluster, user and context of the kubeconfig.
	contextName = "octorun"
)

// writeServiceAccountKey writes a new RSA private key in PEM to path. The
// API server derives the public key to verify tokens from it, signs tokens
// with it, and so does the controller-manager.
func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the service account key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return os.WriteFile(path, data, 0o600)
}

// writeCABundle writes the CA certificates of the PEM bundle at src to dst.
// The API server's self-signed apiserver.crt holds its serving certificate
// and then the CA that signed it: clients may trust the whole file, but the
// controller-manager publishes its --root-ca-file as a ClusterTrustBundle,
// which takes CA certificates only.
func writeCABundle(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var out []byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("parsing %s: %w", src, err)
		}
		if cert.IsCA {
			out = append(out, pem.EncodeToMemory(block)...)
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("no CA certificate in %s", src)
	}
	return os.WriteFile(dst, out, 0o644)
}

// newToken returns a random bearer token.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// tokenFileContent returns a --token-auth-file with one line: token for
// AdminUser in system:masters.
func tokenFileContent(token string) string {
	return fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, AdminUser, AdminUser)
}

// restConfig returns the admin client config of the API server at host,
// trusting the serving certificate in caFile.
func restConfig(host, caFile, token string) *rest.Config {
	return &rest.Config{
		Host:            host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
		// Tests create many objects quickly; do not throttle them.
		QPS:   -1,
		Burst: -1,
	}
}

// kubeconfigFor returns the kubeconfig of cfg.
func kubeconfigFor(cfg *rest.Config) *clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[contextName] = &clientcmdapi.Cluster{
		Server:               cfg.Host,
		CertificateAuthority: cfg.CAFile,
	}
	kc.AuthInfos[contextName] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts[contextName] = &clientcmdapi.Context{
		Cluster:   contextName,
		AuthInfo:  contextName,
		Namespace: "default",
	}
	kc.CurrentContext = contextName
	return kc
}

// writeKubeconfig writes the kubeconfig of cfg to path.
func writeKubeconfig(cfg *rest.Config, path string) error {
	return clientcmd.WriteToFile(*kubeconfigFor(cfg), path)
}

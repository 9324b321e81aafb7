; PitBox for Windows: an Inno Setup 6 script that installs the PyInstaller bundle (build.spec) for the
; current user, without administrator rights.
;
;   pyinstaller --noconfirm build.spec                 -> dist\PitBox\PitBox.exe, pitbox-relay.exe
;   iscc installer\pitbox.iss                          -> dist\PitBox-Setup-<version>.exe
;
; The version comes from PitBox.exe's version resource (made from pyproject.toml by build.spec); pass
; /DAppVersion=X.Y.Z or /DDistDir=PATH to iscc to override. See installer/README.md.
;
; What it does: installs into %LOCALAPPDATA%\Programs\PitBox, adds Start menu entries (PitBox, the team
; relay, the uninstaller), optionally starts PitBox with Windows (`PitBox.exe setup --start-with-windows
; yes`: the setting and the per-user Run key) and a desktop icon. The uninstaller removes the Run key
; value and asks whether to remove the user's data too (settings, coaching memory, recordings, clips, the
; relay's data); a silent uninstall keeps it unless /REMOVEUSERDATA is given.

#define AppName "PitBox"
#define AppExe "PitBox.exe"
#ifndef DistDir
  #define DistDir AddBackslash(SourcePath) + "..\dist\PitBox"
#endif
#ifndef AppVersion
  #define AppVersion GetVersionNumbersString(DistDir + "\" + AppExe)
#endif
#if AppVersion == ""
  #error Build the executables first (pyinstaller --noconfirm build.spec): no version in {#DistDir}\{#AppExe}
#endif

[Setup]
; A fixed id: upgrades replace the previous install instead of adding a second one.
AppId={{6F7B3C2E-5A1D-4C8E-9B0F-2D4E6A8C1B35}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The PitBox contributors
AppComments=Open driver app for sim racing: on-device copilot, team relay and live dashboard.
; Per user, no administrator rights: {autopf} is %LOCALAPPDATA%\Programs.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#DistDir}\..
OutputBaseFilename=PitBox-Setup-{#AppVersion}
SetupIconFile=..\assets\pitbox.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; A running PitBox is asked to close (Restart Manager) before its files are replaced or removed.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startup"; Description: "Start PitBox when I sign in to Windows (in the tray)"; GroupDescription: "Start-up:"; Flags: unchecked
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade starts from a clean program folder: no stale modules from the previous version.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "PitBox driver app"
Name: "{group}\PitBox team relay"; Filename: "{app}\pitbox-relay.exe"; Parameters: "serve"; Comment: "Run the team relay on this PC"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
; First-run set-up: the setting the tray app reads at start (it keeps the Run key in line with it).
Filename: "{app}\{#AppExe}"; Parameters: "setup --start-with-windows yes"; StatusMsg: "Setting PitBox to start with Windows..."; Tasks: startup; Flags: runhidden waituntilterminated
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  RunKey = 'Software\Microsoft\Windows\CurrentVersion\Run';

{ True when the uninstaller was started with /REMOVEUSERDATA (for silent uninstalls). }
function RemoveUserDataRequested(): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), '/REMOVEUSERDATA') = 0 then
      Result := True;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  RemoveData: Boolean;
begin
  if CurUninstallStep = usUninstall then
    { Whoever turned it on (installer or settings), PitBox no longer starts at sign-in. }
    RegDeleteValue(HKEY_CURRENT_USER, RunKey, 'PitBox');
  if CurUninstallStep = usPostUninstall then
  begin
    RemoveData := RemoveUserDataRequested();
    if (not RemoveData) and (not UninstallSilent) then
      RemoveData := MsgBox('Also remove your PitBox data?' + #13#10 + #13#10 +
        'Your settings, coaching memory, recorded sessions and video clips in ' +
        ExpandConstant('{localappdata}\pitbox') + ', and the team relay''s data in ' +
        ExpandConstant('{localappdata}\pitbox-relay') + '.' + #13#10 + #13#10 +
        'Choose No to keep them for a later install.',
        mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
    if RemoveData then
    begin
      DelTree(ExpandConstant('{localappdata}\pitbox'), True, True, True);
      DelTree(ExpandConstant('{localappdata}\pitbox-relay'), True, True, True);
    end;
  end;
end;
